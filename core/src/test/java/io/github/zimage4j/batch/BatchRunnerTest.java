package io.github.zimage4j.batch;

import io.github.zimage4j.image.GenerationMetadata;
import io.github.zimage4j.image.PngFiles;
import io.github.zimage4j.pipeline.Cancellation;
import io.github.zimage4j.pipeline.ModelFiles;
import io.github.zimage4j.pipeline.PipelineListener;
import io.github.zimage4j.pipeline.TinyModel;
import io.github.zimage4j.pipeline.ZImagePipeline;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The one-machine batch on the tiny model: output, manifest, resume, failures, retries, cancellation. */
class BatchRunnerTest {

    @TempDir
    static Path model;
    static ZImagePipeline pipe;

    @TempDir
    Path out;

    static final String JOBS = """
            {"defaults": {"width": 32, "height": 32, "steps": 2}}
            {"id": "fox", "prompt": "a red fox", "seed": 1}
            {"id": "cat/1", "prompt": "a cat"}
            {"id": "fox-again", "prompt": "a red fox", "seed": 2, "width": 48}
            {"id": "bad", "prompt": "fails on purpose"}
            """;

    @BeforeAll
    static void load() throws IOException {
        TinyModel.write(model, 5);
        pipe = ZImagePipeline.load(ModelFiles.resolve(model.toString(), ModelFiles.Overrides.none()), ZImagePipeline.Options.defaults());
    }

    @AfterAll
    static void close() {
        pipe.close();
    }

    /** Fails the request with id "bad" while it is being made, as a broken request would. */
    static final class FailBad implements BatchRunner.Listener {
        final List<String> finished = new ArrayList<>();

        @Override
        public void finished(JobFile.Item item, ManifestRecord record, BatchRunner.Progress progress) {
            finished.add(item.id());
            assertEquals(finished.size(), progress.done() + progress.failed());
            assertTrue(progress.imagesPerHour() > 0);
        }

        @Override
        public PipelineListener pipeline(JobFile.Item item) {
            return item.id().equals("bad") ? new PipelineListener() {
                @Override
                public void stage(Stage stage) {
                    if (stage == Stage.DENOISING) {
                        throw new IllegalStateException("injected failure");
                    }
                }
            } : PipelineListener.NONE;
        }
    }

    private BatchRunner.Summary run(JobFile jobs, boolean retryFailed, BatchRunner.Listener listener) throws IOException {
        try (BatchRunner runner = BatchRunner.open(jobs, out, retryFailed, w -> { })) {
            return runner.run(pipe, listener, new Cancellation());
        }
    }

    private List<String> pngs() throws IOException {
        try (Stream<Path> files = Files.list(out)) {
            return files.map(p -> p.getFileName().toString()).filter(n -> !n.equals(Manifest.FILE_NAME)).sorted().toList();
        }
    }

    @Test
    void makesEveryImageRecordsItAndResumes() throws IOException {
        JobFile jobs = JobFile.parse("jobs.jsonl", JOBS);
        FailBad listener = new FailBad();
        BatchRunner.Summary s = run(jobs, false, listener);
        assertEquals(new BatchRunner.Summary(3, 1, false), s);
        // Grouped by prompt: both foxes first.
        assertEquals(List.of("fox", "fox-again", "cat/1", "bad"), listener.finished);

        String catFile = JobFile.fileName("cat/1");
        assertEquals(Stream.of("fox.png", "fox-again.png", catFile).sorted().toList(), pngs());
        List<ManifestRecord> records = Manifest.readAll(out.resolve(Manifest.FILE_NAME));
        assertEquals(4, records.size());
        for (ManifestRecord r : records) {
            if (r.id().equals("bad")) {
                assertFalse(r.isDone());
                assertEquals("injected failure", r.error());
                continue;
            }
            assertTrue(r.isDone(), r.toString());
            byte[] png = Files.readAllBytes(out.resolve(r.file()));
            assertEquals(RenderedImage.sha256(png), r.sha256());
            assertEquals(png.length, r.bytes());
            assertEquals(pipe.backend().name(), r.backend());
            GenerationMetadata meta = PngFiles.readMetadata(out.resolve(r.file()));
            assertEquals(r.seed(), meta.seed());
        }
        GenerationMetadata cat = PngFiles.readMetadata(out.resolve(catFile));
        assertEquals(JobFile.seedFor("cat/1"), cat.seed());
        assertEquals("a cat", cat.prompt());
        assertEquals(48, PngFiles.readMetadata(out.resolve("fox-again.png")).width());

        // A re-run does nothing: done ids are skipped, the failed one too without --retry-failed.
        try (BatchRunner again = BatchRunner.open(jobs, out, false, w -> { })) {
            assertEquals(3, again.plan().done());
            assertEquals(1, again.plan().failed());
            assertTrue(again.plan().todo().isEmpty());
        }
        // --retry-failed makes the failed one (it now works); its last record counts.
        BatchRunner.Summary retried = run(jobs, true, new BatchRunner.Listener() { });
        assertEquals(new BatchRunner.Summary(1, 0, false), retried);
        try (Manifest m = Manifest.open(out.resolve(Manifest.FILE_NAME), w -> { })) {
            assertTrue(m.latest().values().stream().allMatch(ManifestRecord::isDone));
            assertEquals(4, m.latest().size());
        }
        assertEquals(5, Manifest.readAll(out.resolve(Manifest.FILE_NAME)).size());
    }

    @Test
    void aTornManifestLineOrAMissingFileIsMadeAgain() throws IOException {
        JobFile jobs = JobFile.parse("jobs.jsonl", JOBS);
        run(jobs, false, new BatchRunner.Listener() { });
        byte[] fox = Files.readAllBytes(out.resolve("fox.png"));
        Path manifest = out.resolve(Manifest.FILE_NAME);
        // Cut the last record in half (as a crash during its write would) and delete another image.
        List<String> lines = Files.readAllLines(manifest);
        String last = lines.get(lines.size() - 1);
        Files.writeString(manifest, String.join("\n", lines.subList(0, lines.size() - 1)) + "\n" + last.substring(0, 10));
        String tornId = ManifestRecord.fromJson(io.github.zimage4j.io.Json.parse(last) instanceof java.util.Map<?, ?> m
                ? castMap(m) : null).id();
        Files.delete(out.resolve("fox.png"));

        List<String> warnings = new ArrayList<>();
        try (BatchRunner runner = BatchRunner.open(jobs, out, false, warnings::add)) {
            assertEquals(1, runner.plan().missing());
            List<String> todo = runner.plan().todo().stream().map(JobFile.Item::id).toList();
            assertEquals(Set.of("fox", tornId), Set.copyOf(todo));
            assertEquals(2, warnings.size(), warnings.toString());
            runner.run(pipe, new BatchRunner.Listener() { }, new Cancellation());
        }
        // The same request gives the same bytes.
        assertArrayEquals(fox, Files.readAllBytes(out.resolve("fox.png")));
        try (Manifest m = Manifest.open(manifest, w -> { })) {
            assertEquals(4, m.latest().size());
        }
    }

    @SuppressWarnings("unchecked")
    private static java.util.Map<String, ?> castMap(java.util.Map<?, ?> m) {
        return (java.util.Map<String, ?>) m;
    }

    @Test
    void cancellingStopsBetweenImagesWithNothingHalfWritten() throws IOException {
        JobFile jobs = JobFile.parse("jobs.jsonl", JOBS);
        Cancellation cancel = new Cancellation();
        BatchRunner.Summary s;
        try (BatchRunner runner = BatchRunner.open(jobs, out, false, w -> { })) {
            s = runner.run(pipe, new BatchRunner.Listener() {
                @Override
                public void finished(JobFile.Item item, ManifestRecord record, BatchRunner.Progress progress) {
                    cancel.cancel();
                }
            }, cancel);
        }
        assertTrue(s.cancelled());
        assertEquals(1, s.done());
        assertEquals(List.of("fox.png"), pngs());
        assertEquals(1, Manifest.readAll(out.resolve(Manifest.FILE_NAME)).size());
    }

    @Test
    void anOutputPathThatIsAFileIsRefused() throws IOException {
        Path file = Files.writeString(out.resolve("x"), "");
        IOException e = org.junit.jupiter.api.Assertions.assertThrows(IOException.class,
                () -> BatchRunner.open(JobFile.parse("j", JOBS), file, false, w -> { }));
        assertTrue(e.getMessage().contains("is a file, not a folder"), e.getMessage());
        Files.writeString(out.resolve("x"), "", StandardOpenOption.TRUNCATE_EXISTING);
    }
}
