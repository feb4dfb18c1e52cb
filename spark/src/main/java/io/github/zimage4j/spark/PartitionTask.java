package io.github.zimage4j.spark;

import io.github.zimage4j.batch.BatchRunner;
import io.github.zimage4j.batch.ManifestRecord;
import io.github.zimage4j.batch.RenderedImage;
import io.github.zimage4j.batch.RequestJson;
import io.github.zimage4j.io.Json;
import io.github.zimage4j.pipeline.Cancellation;
import io.github.zimage4j.pipeline.GenerationRequest;
import io.github.zimage4j.pipeline.PipelineListener;
import io.github.zimage4j.pipeline.ZImagePipeline;
import org.apache.hadoop.fs.ChecksumFileSystem;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.util.LongAccumulator;

import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * One partition of the job on an executor: each request made with the executor's pipeline, its PNG
 * written under a temporary name and renamed into place, one manifest row returned per request. A task
 * that dies leaves at most a temporary file (removed when the job ends); its retry makes the same
 * requests again, and the manifest rows of the failed attempt are never committed.
 */
final class PartitionTask implements FlatMapFunction<Iterator<SparkBatchJob.WorkItem>, Row> {

    /** Test hooks: called as a request starts (a throw fails that request) and after its temporary file is written (a throw fails the task). */
    interface Hook extends Serializable {
        default void rendering(String id) {
        }

        default void written(String id, Path temporary) throws IOException {
        }
    }

    static volatile Hook hook = new Hook() { };

    private final SparkBatchJob.Model model;
    private final String output;
    private final HadoopConf hadoopConf;
    private final HadoopImages images;
    private final LongAccumulator made;
    private final LongAccumulator failed;

    PartitionTask(SparkBatchJob.Model model, String output, HadoopConf hadoopConf, HadoopImages images, LongAccumulator made,
                  LongAccumulator failed) {
        this.model = model;
        this.output = output;
        this.hadoopConf = hadoopConf;
        this.images = images;
        this.made = made;
        this.failed = failed;
    }

    @Override
    public Iterator<Row> call(Iterator<SparkBatchJob.WorkItem> items) throws Exception {
        List<SparkBatchJob.WorkItem> work = new ArrayList<>();
        items.forEachRemaining(work::add);
        Path out = new Path(output);
        FileSystem fs = out.getFileSystem(hadoopConf.get());
        if (fs instanceof ChecksumFileSystem local) {
            // The local file system would add a hidden .crc file beside every PNG.
            fs = local.getRawFileSystem();
        }
        Path tmpDir = new Path(out, SparkBatchJob.TEMPORARY);
        TaskContext task = TaskContext.get();
        String attempt = task == null ? "local" : task.stageId() + "-" + task.partitionId() + "-" + task.attemptNumber();
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < work.size(); i++) {
            SparkBatchJob.WorkItem item = work.get(i);
            RenderedImage image;
            String backend;
            long t0 = System.nanoTime();
            ExecutorPipeline.lock().lock();
            try {
                ZImagePipeline pipe = ExecutorPipeline.get(model);
                backend = pipe.backend().name();
                if (i % BatchRunner.ENCODE_AHEAD == 0) {
                    encodeAhead(pipe, work.subList(i, Math.min(work.size(), i + BatchRunner.ENCODE_AHEAD)));
                }
                try {
                    hook.rendering(item.id());
                    image = RenderedImage.render(pipe, request(item), PipelineListener.NONE, Cancellation.none());
                } catch (IOException | RuntimeException e) {
                    String message = e.getMessage() == null || e.getMessage().isBlank() ? e.getClass().getSimpleName() : e.getMessage();
                    rows.add(SparkBatchJob.row(ManifestRecord.failed(item.id(), (System.nanoTime() - t0) / 1e9, backend, message)));
                    failed.add(1);
                    continue;
                }
            } finally {
                ExecutorPipeline.lock().unlock();
            }
            Path temporary = new Path(tmpDir, item.fileName() + "." + attempt + ".tmp");
            try (FSDataOutputStream o = fs.create(temporary, true)) {
                o.write(image.png());
                o.hsync();
            }
            hook.written(item.id(), temporary);
            moveIntoPlace(fs, temporary, new Path(out, item.fileName()), image.png().length);
            rows.add(SparkBatchJob.row(image.record(item.id(), item.fileName(), backend)));
            made.add(1);
        }
        return rows.iterator();
    }

    private GenerationRequest request(SparkBatchJob.WorkItem item) {
        @SuppressWarnings("unchecked")
        Map<String, Object> fields = (Map<String, Object>) Json.parse(item.requestJson());
        return RequestJson.toRequest(fields, images);
    }

    private void encodeAhead(ZImagePipeline pipe, List<SparkBatchJob.WorkItem> items) {
        try {
            pipe.cachePrompts(items.stream().map(this::request).toList());
        } catch (IOException | RuntimeException e) {
            // Each request encodes its own prompts again and records the error if it persists.
        }
    }

    /**
     * Renames the finished temporary file to its name. A file already there is an earlier attempt's (a
     * retried or speculative task) with the same bytes: it is replaced, or, when another attempt renamed
     * first, kept.
     */
    private static void moveIntoPlace(FileSystem fs, Path temporary, Path target, long length) throws IOException {
        if (fs.exists(target)) {
            fs.delete(target, false);
        }
        if (!fs.rename(temporary, target)) {
            if (fs.exists(target) && fs.getFileStatus(target).getLen() == length) {
                fs.delete(temporary, false);
                return;
            }
            throw new IOException("cannot rename " + temporary + " to " + target);
        }
    }
}
