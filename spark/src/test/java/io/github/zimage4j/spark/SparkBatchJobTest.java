package io.github.zimage4j.spark;

import io.github.zimage4j.batch.BatchRunner;
import io.github.zimage4j.batch.JobFile;
import io.github.zimage4j.batch.ManifestRecord;
import io.github.zimage4j.batch.RenderedImage;
import io.github.zimage4j.pipeline.Cancellation;
import io.github.zimage4j.pipeline.TinyModel;
import org.apache.hadoop.fs.Path;
import org.apache.spark.TaskContext;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Spark job in local mode (two task slots, up to four attempts per task) on the tiny model: every
 * request once, a task killed half way retried without duplicates or losses, the same bytes as
 * {@code zimage4j batch}, and a re-run that finds nothing to do.
 */
class SparkBatchJobTest {

    @TempDir
    static java.nio.file.Path model;
    static SparkSession spark;

    @TempDir
    java.nio.file.Path dir;

    static final String JOBS = """
            {"defaults": {"width": 32, "height": 32, "steps": 2}}
            {"id": "fox-1", "prompt": "a red fox", "seed": 1}
            {"id": "fox-2", "prompt": "a red fox", "seed": 2}
            {"id": "cat", "prompt": "a cat on a roof"}
            {"id": "owl/night", "prompt": "an owl at night", "width": 48}
            {"id": "狐狸", "prompt": "一只在雪地里的红狐狸"}
            {"id": "fox-3", "prompt": "a red fox", "seed": 3, "height": 16}
            {"id": "sea", "prompt": "the sea"}
            """;

    @BeforeAll
    static void start() throws IOException {
        TinyModel.write(model, 9);
        spark = SparkSession.builder().master("local[2,4]").appName("zimage4j-test")
                .config("spark.ui.enabled", "false")
                .config("spark.sql.shuffle.partitions", "2")
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .getOrCreate();
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    @AfterEach
    void noHook() {
        PartitionTask.hook = new PartitionTask.Hook() { };
    }

    private SparkBatchJob.Config config(String input, java.nio.file.Path out, boolean retryFailed) {
        return new SparkBatchJob.Config(input, out.toUri().toString(), new SparkBatchJob.Model(model.toString(), "java", null),
                3, retryFailed);
    }

    private static Set<String> files(java.nio.file.Path out) throws IOException {
        try (Stream<java.nio.file.Path> s = Files.list(out)) {
            return s.map(p -> p.getFileName().toString()).collect(Collectors.toCollection(TreeSet::new));
        }
    }

    private static List<ManifestRecord> records(SparkBatchJob.Result r) {
        return r.manifest().collectAsList().stream().map(SparkBatchJob::record).toList();
    }

    /** Kills the first attempt of one task after its second image's temporary file is written. */
    static final class KillOnce implements PartitionTask.Hook {
        static final AtomicInteger KILLS = new AtomicInteger();
        static final AtomicInteger WRITTEN = new AtomicInteger();

        @Override
        public void written(String id, Path temporary) throws IOException {
            TaskContext t = TaskContext.get();
            if (t.partitionId() == 0 && t.attemptNumber() == 0 && WRITTEN.incrementAndGet() == 2) {
                KILLS.incrementAndGet();
                throw new IOException("injected: task killed after writing " + temporary.getName());
            }
        }
    }

    @Test
    void everyRequestOnceThroughAKilledTaskAndTheSameBytesAsBatch() throws IOException {
        java.nio.file.Path jobsFile = Files.writeString(dir.resolve("jobs.jsonl"), JOBS);
        JobFile jobs = JobFile.read(jobsFile);
        java.nio.file.Path out = dir.resolve("out");
        KillOnce.KILLS.set(0);
        KillOnce.WRITTEN.set(0);
        PartitionTask.hook = new KillOnce();

        SparkBatchJob.Result r = SparkBatchJob.run(spark, config(jobsFile.toUri().toString(), out, false));
        assertEquals(1, KillOnce.KILLS.get(), "the first attempt of task 0 was killed");
        assertEquals(7, r.total());
        assertEquals(0, r.skipped());
        assertEquals(7, r.made());
        assertEquals(0, r.failed());

        // Exactly one file per request, no temporary left, and one done row per request.
        Set<String> expected = new TreeSet<>(jobs.items().stream().map(JobFile.Item::fileName).toList());
        Set<String> pngs = files(out);
        pngs.remove(SparkBatchJob.MANIFEST);
        assertEquals(expected, pngs);
        assertFalse(Files.exists(out.resolve(SparkBatchJob.TEMPORARY)));
        List<ManifestRecord> rows = records(r);
        assertEquals(7, rows.size(), rows.toString());
        assertEquals(jobs.items().stream().map(JobFile.Item::id).collect(Collectors.toSet()),
                rows.stream().map(ManifestRecord::id).collect(Collectors.toSet()));
        for (ManifestRecord row : rows) {
            assertTrue(row.isDone(), row.toString());
            byte[] png = Files.readAllBytes(out.resolve(row.file()));
            assertEquals(RenderedImage.sha256(png), row.sha256());
            assertEquals(png.length, row.bytes());
        }

        // zimage4j batch makes the same files, byte for byte.
        java.nio.file.Path local = dir.resolve("local");
        ExecutorPipeline.lock().lock();
        try (BatchRunner runner = BatchRunner.open(jobs, local, false, w -> { })) {
            runner.run(ExecutorPipeline.get(new SparkBatchJob.Model(model.toString(), "java", null)),
                    new BatchRunner.Listener() { }, new Cancellation());
        } finally {
            ExecutorPipeline.lock().unlock();
        }
        for (JobFile.Item item : jobs.items()) {
            assertArrayEquals(Files.readAllBytes(local.resolve(item.fileName())), Files.readAllBytes(out.resolve(item.fileName())),
                    item.id());
        }

        // A re-run finds everything done; deleting one image makes just that one again.
        SparkBatchJob.Result again = SparkBatchJob.run(spark, config(jobsFile.toString(), out, false));
        assertEquals(7, again.skipped());
        assertEquals(0, again.made());
        assertEquals(7, records(again).size());
        Files.delete(out.resolve("cat.png"));
        SparkBatchJob.Result redo = SparkBatchJob.run(spark, config(jobsFile.toString(), out, false));
        assertEquals(6, redo.skipped());
        assertEquals(1, redo.made());
        assertTrue(Files.isRegularFile(out.resolve("cat.png")));
    }

    @Test
    void aFailingRequestIsRecordedAndRetriedOnRequest() throws IOException {
        java.nio.file.Path jobsFile = Files.writeString(dir.resolve("jobs.jsonl"), JOBS);
        java.nio.file.Path out = dir.resolve("out");
        PartitionTask.hook = new PartitionTask.Hook() {
            @Override
            public void rendering(String id) {
                if (id.equals("sea")) {
                    throw new IllegalStateException("injected request failure");
                }
            }
        };
        SparkBatchJob.Result r = SparkBatchJob.run(spark, config(jobsFile.toString(), out, false));
        assertEquals(6, r.made());
        assertEquals(1, r.failed());
        ManifestRecord sea = records(r).stream().filter(x -> x.id().equals("sea")).findFirst().orElseThrow();
        assertFalse(sea.isDone());
        assertEquals("injected request failure", sea.error());
        assertFalse(Files.exists(out.resolve("sea.png")));

        PartitionTask.hook = new PartitionTask.Hook() { };
        assertEquals(0, SparkBatchJob.run(spark, config(jobsFile.toString(), out, false)).made(), "failed ones are skipped");
        SparkBatchJob.Result retried = SparkBatchJob.run(spark, config(jobsFile.toString(), out, true));
        assertEquals(1, retried.made());
        assertTrue(Files.isRegularFile(out.resolve("sea.png")));
        Map<String, Integer> done = new HashMap<>();
        records(retried).stream().filter(ManifestRecord::isDone).forEach(x -> done.merge(x.id(), 1, Integer::sum));
        assertEquals(7, done.size());
        assertTrue(done.values().stream().allMatch(n -> n == 1), done.toString());
    }

    @Test
    void parquetInputWorksLikeJsonLines() throws IOException {
        java.nio.file.Path json = Files.writeString(dir.resolve("rows.json"), """
                {"id": "p1", "prompt": "a red fox", "width": 32, "height": 32, "steps": 2, "seed": 1}
                {"id": "p2", "prompt": "a cat", "width": 32, "height": 16, "steps": 2}
                """);
        String parquet = dir.resolve("jobs.parquet").toString();
        spark.read().json(json.toString()).write().parquet(parquet);
        java.nio.file.Path out = dir.resolve("out");
        SparkBatchJob.Result r = SparkBatchJob.run(spark, config(parquet, out, false));
        assertEquals(2, r.made());
        assertTrue(Files.isRegularFile(out.resolve("p1.png")));
        assertTrue(Files.isRegularFile(out.resolve("p2.png")));
    }

    @Test
    void badInputFailsOnTheDriverWithLineNumbers() throws IOException {
        java.nio.file.Path jobsFile = Files.writeString(dir.resolve("jobs.jsonl"), """
                {"id": "a", "prompt": "x", "steps": "two"}
                {"id": "b", "prompt": "x", "colour": "red"}
                """);
        JobFile.InvalidJobFileException e = assertThrows(JobFile.InvalidJobFileException.class,
                () -> SparkBatchJob.run(spark, config(jobsFile.toString(), dir.resolve("out"), false)));
        assertEquals(2, e.problems().size());
        assertTrue(e.problems().get(0).startsWith("line 1: \"steps\" must be a whole number"), e.problems().toString());
        assertFalse(Files.exists(dir.resolve("out")));
    }

    @Test
    void commandLineArguments() {
        SparkBatchJob.Config c = SparkBatchJob.parse(new String[]{"hdfs:///jobs.jsonl", "--out", "s3a://b/out", "--model", "/models/turbo",
                "--partitions", "100", "--retry-failed", "--backend", "onednn"});
        assertEquals(new SparkBatchJob.Config("hdfs:///jobs.jsonl", "s3a://b/out", new SparkBatchJob.Model("/models/turbo", "onednn", null),
                100, true), c);
        assertThrows(IllegalArgumentException.class, () -> SparkBatchJob.parse(new String[]{"j.jsonl", "--model", "m"}));
        assertThrows(IllegalArgumentException.class, () -> SparkBatchJob.parse(new String[]{"j.jsonl", "--out", "o"}));
        assertThrows(IllegalArgumentException.class, () -> SparkBatchJob.parse(new String[]{"j.jsonl", "--out", "o", "--model", "m", "--partitions", "x"}));
        assertThrows(IllegalArgumentException.class, () -> SparkBatchJob.parse(new String[]{"j.jsonl", "--out", "o", "--model", "m", "--colour"}));
    }

}
