package io.github.zimage4j.spark;

import io.github.zimage4j.pipeline.ModelFiles;
import io.github.zimage4j.pipeline.Variant;
import io.github.zimage4j.pipeline.ZImagePipeline;

import java.io.IOException;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The one pipeline of an executor JVM: loaded by the first task that needs it and kept for every later
 * task (its weights stay memory-mapped, so the page cache holds them once per machine). Generation takes
 * all cores, so tasks sharing a JVM take turns: {@link #lock()} is held for each image.
 */
final class ExecutorPipeline {

    private static final ReentrantLock LOCK = new ReentrantLock();
    private static ZImagePipeline pipeline;
    private static SparkBatchJob.Model loadedFor;

    private ExecutorPipeline() {
    }

    /** Held while an image is made. */
    static ReentrantLock lock() {
        return LOCK;
    }

    /** The pipeline for {@code model}, loading it on first use; call with {@link #lock()} held. */
    static ZImagePipeline get(SparkBatchJob.Model model) throws IOException {
        if (!LOCK.isHeldByCurrentThread()) {
            throw new IllegalStateException("ExecutorPipeline.get needs the lock");
        }
        if (pipeline != null && model.equals(loadedFor)) {
            return pipeline;
        }
        if (pipeline != null) {
            // A JVM that runs another job's tasks: one model at a time.
            pipeline.close();
            pipeline = null;
        }
        ModelFiles files = ModelFiles.resolve(model.model(), ModelFiles.Overrides.none());
        pipeline = ZImagePipeline.load(files, new ZImagePipeline.Options(model.backend(),
                model.variant() == null ? null : Variant.parse(model.variant())));
        pipeline.promptCacheSize(2 * io.github.zimage4j.batch.BatchRunner.ENCODE_AHEAD);
        loadedFor = model;
        return pipeline;
    }
}
