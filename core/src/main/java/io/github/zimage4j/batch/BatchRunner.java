package io.github.zimage4j.batch;

import io.github.zimage4j.io.AtomicFiles;
import io.github.zimage4j.pipeline.Cancellation;
import io.github.zimage4j.pipeline.PipelineListener;
import io.github.zimage4j.pipeline.ZImagePipeline;

import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

/**
 * A batch on one machine: every request of a {@link JobFile} becomes {@code OUT/<file name>.png}, and
 * every finished or failed request a line of {@code OUT/manifest.jsonl}.
 *
 * <p>Resumable: {@link #open} reads the manifest, and a request counts as done when its last record says
 * so and its file is there with the recorded size; those are skipped. Failed requests are skipped too,
 * unless {@code retryFailed}. A request that fails is recorded with its error and the batch goes on.
 *
 * <p>Requests with the same prompts run one after another, and the prompts of the next
 * {@link #ENCODE_AHEAD} requests are encoded in one text-encoder session, each distinct prompt once.
 */
public final class BatchRunner implements Closeable {

    /** How many upcoming requests' prompts are encoded together. */
    public static final int ENCODE_AHEAD = 32;

    /**
     * What a run will do.
     *
     * @param total       requests in the job file
     * @param done        already done (skipped)
     * @param failed      failed earlier and skipped (0 with retryFailed)
     * @param missing     recorded as done but the file is gone or has another size: they run again
     * @param todo        requests this run makes
     */
    public record Plan(int total, int done, int failed, int missing, List<JobFile.Item> todo) {
    }

    /** Where a run stands after an image. */
    public record Progress(int done, int failed, int remaining, double imagesPerHour, double etaSeconds) {
    }

    /** What a run reports; every method is optional. */
    public interface Listener {
        default void finished(JobFile.Item item, ManifestRecord record, Progress progress) {
        }

        /** The listener of each image's pipeline run (stages and steps). */
        default PipelineListener pipeline(JobFile.Item item) {
            return PipelineListener.NONE;
        }
    }

    /** How a run ended. */
    public record Summary(int done, int failed, boolean cancelled) {
    }

    private final Path outDir;
    private final Manifest manifest;
    private final Plan plan;
    private final ReentrantLock writing = new ReentrantLock();

    private BatchRunner(Path outDir, Manifest manifest, Plan plan) {
        this.outDir = outDir;
        this.manifest = manifest;
        this.plan = plan;
    }

    /**
     * Creates {@code outDir} if needed, opens its manifest and works out what is left to do; no model is
     * needed for this, so every problem shows before one is loaded.
     *
     * @param warnings receives notes (a torn manifest line, files recorded but gone)
     */
    public static BatchRunner open(JobFile jobs, Path outDir, boolean retryFailed, Consumer<String> warnings) throws IOException {
        if (Files.exists(outDir) && !Files.isDirectory(outDir)) {
            throw new IOException("--out " + outDir + " is a file, not a folder");
        }
        Files.createDirectories(outDir);
        Manifest manifest = Manifest.open(outDir.resolve(Manifest.FILE_NAME), warnings);
        try {
            return new BatchRunner(outDir, manifest, plan(jobs, manifest.latest(), outDir, retryFailed, warnings));
        } catch (IOException | RuntimeException e) {
            manifest.close();
            throw e;
        }
    }

    private static Plan plan(JobFile jobs, Map<String, ManifestRecord> records, Path outDir, boolean retryFailed,
                             Consumer<String> warnings) throws IOException {
        int done = 0;
        int failed = 0;
        int missing = 0;
        List<JobFile.Item> todo = new ArrayList<>();
        for (JobFile.Item item : jobs.items()) {
            ManifestRecord r = records.get(item.id());
            if (r != null && r.isDone()) {
                Path file = outDir.resolve(r.file());
                if (Files.isRegularFile(file) && Files.size(file) == r.bytes()) {
                    done++;
                    continue;
                }
                missing++;
                warnings.accept(item.id() + ": recorded as done but " + file + (Files.exists(file) ? " has another size" : " is missing")
                        + "; making it again");
            } else if (r != null && !retryFailed) {
                failed++;
                continue;
            }
            todo.add(item);
        }
        return new Plan(jobs.items().size(), done, failed, missing, groupByPrompt(todo));
    }

    /** Requests with the same prompts next to each other, groups in the order their first request appears. */
    private static List<JobFile.Item> groupByPrompt(List<JobFile.Item> items) {
        Map<List<Object>, List<JobFile.Item>> groups = new LinkedHashMap<>();
        for (JobFile.Item item : items) {
            groups.computeIfAbsent(item.promptKey(), k -> new ArrayList<>()).add(item);
        }
        return groups.values().stream().flatMap(List::stream).toList();
    }

    public Plan plan() {
        return plan;
    }

    /** Held while a PNG and its manifest line are written: a shutdown hook waits for it so both finish. */
    public ReentrantLock writing() {
        return writing;
    }

    /**
     * Makes every planned request. Stops between images (and between steps) when {@code cancel} is
     * triggered; an image is never left half written.
     */
    public Summary run(ZImagePipeline pipe, Listener listener, Cancellation cancel) throws IOException {
        List<JobFile.Item> todo = plan.todo();
        String backend = pipe.backend().name();
        long start = System.nanoTime();
        int done = 0;
        int failed = 0;
        for (int i = 0; i < todo.size(); i++) {
            if (cancel.isCancelled()) {
                return new Summary(done, failed, true);
            }
            if (i % ENCODE_AHEAD == 0) {
                encodeAhead(pipe, todo.subList(i, Math.min(todo.size(), i + ENCODE_AHEAD)));
            }
            JobFile.Item item = todo.get(i);
            long t0 = System.nanoTime();
            ManifestRecord record;
            try {
                RenderedImage image = RenderedImage.render(pipe, item.request(), listener.pipeline(item), cancel);
                record = image.record(item.id(), item.fileName(), backend);
                writing.lock();
                try {
                    AtomicFiles.write(outDir.resolve(item.fileName()), image.png());
                    manifest.append(record);
                } finally {
                    writing.unlock();
                }
                done++;
            } catch (CancellationException e) {
                return new Summary(done, failed, true);
            } catch (IOException | RuntimeException e) {
                record = ManifestRecord.failed(item.id(), (System.nanoTime() - t0) / 1e9, backend, describe(e));
                manifest.append(record);
                failed++;
            }
            double hours = (System.nanoTime() - start) / 3.6e12;
            int finished = done + failed;
            double rate = finished / hours;
            int remaining = todo.size() - finished;
            listener.finished(item, record, new Progress(done, failed, remaining, rate, remaining / rate * 3600));
        }
        return new Summary(done, failed, false);
    }

    private static void encodeAhead(ZImagePipeline pipe, List<JobFile.Item> items) {
        try {
            pipe.cachePrompts(items.stream().map(JobFile.Item::request).toList());
        } catch (IOException | RuntimeException e) {
            // Each request encodes its own prompts again and records the error if it persists.
        }
    }

    private static String describe(Throwable e) {
        String m = e.getMessage();
        return m == null || m.isBlank() ? e.getClass().getSimpleName() : m;
    }

    @Override
    public void close() throws IOException {
        manifest.close();
    }
}
