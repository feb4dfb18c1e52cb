package io.github.zimage4j.server;

import io.github.zimage4j.image.PngFiles;
import io.github.zimage4j.pipeline.Denoiser;
import io.github.zimage4j.pipeline.GeneratedImage;
import io.github.zimage4j.pipeline.PipelineListener;
import io.github.zimage4j.pipeline.ZImagePipeline;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;

/**
 * Runs jobs one at a time on one worker thread (a generation already uses every core), first in first
 * out. At most {@code capacity} jobs wait; one more is refused with 429 and a Retry-After estimated from the
 * recent job durations. Finished jobs are kept (the most recent {@link #RETAINED}) so results can be
 * fetched; their images are also files in the output folder.
 */
public final class JobQueue implements AutoCloseable {

    static final int RETAINED = 256;
    private static final System.Logger LOG = System.getLogger(JobQueue.class.getName());

    private final ModelHost host;
    private final Path outputDir;
    private final int capacity;
    private final ArrayDeque<Object> waiting = new ArrayDeque<>(); // Job, or a SwitchModel
    private final Map<String, Job> jobs = new LinkedHashMap<>();
    private final Thread worker;
    private Job running;
    /** Called on the worker after every step; tests hold a job mid-run with it. */
    volatile java.util.function.Consumer<Job> afterStep = job -> { };
    private double meanSeconds = 10; // Retry-After estimate before any job has finished
    private boolean closed;
    private long submitted;

    private record SwitchModel(String name) {
    }

    public JobQueue(ModelHost host, Path outputDir, int capacity) {
        if (capacity < 1) {
            throw new IllegalArgumentException("the queue needs room for at least one job, got " + capacity);
        }
        this.host = host;
        this.outputDir = outputDir;
        this.capacity = capacity;
        this.worker = Thread.ofPlatform().name("zimage4j-worker").daemon(true).unstarted(this::work);
        worker.start();
    }

    public int capacity() {
        return capacity;
    }

    /** Queues a job, or refuses it with 429 when {@code capacity} jobs already wait. */
    public synchronized Job submit(ImageParams params) {
        if (closed) {
            throw ApiException.of(503, "the server is shutting down");
        }
        if (waiting.size() >= capacity) {
            long retry = Math.max(1, (long) Math.ceil(meanSeconds * (waiting.size() + (running != null ? 1 : 0)) / Math.max(1, capacity)));
            throw new ApiException(429, null, "the queue is full (" + capacity + " jobs waiting); retry after " + retry + " s", retry);
        }
        Job job = new Job(newId(), params);
        jobs.put(job.id, job);
        waiting.add(job);
        submitted++;
        job.emit("queued", Map.of("position", waiting.size()));
        trimFinished();
        notifyAll();
        return job;
    }

    /** Queues a switch to another configured model; it runs between jobs, in order. */
    public synchronized void switchModel(String name) {
        if (!host.names().contains(name)) {
            throw ApiException.badField("model", "not one of the configured models " + host.names());
        }
        if (waiting.size() >= capacity) {
            throw new ApiException(429, null, "the queue is full; retry later", Math.max(1, (long) meanSeconds));
        }
        waiting.add(new SwitchModel(name));
        notifyAll();
    }

    /** The retained jobs, oldest first. */
    public synchronized List<Job> jobsSnapshot() {
        return List.copyOf(jobs.values());
    }

    public synchronized Job get(String id) {
        return jobs.get(id);
    }

    /** 1-based place in the line (0 once started). */
    public synchronized int position(Job job) {
        int i = 1;
        for (Object o : waiting) {
            if (o == job) {
                return i;
            }
            i++;
        }
        return 0;
    }

    public synchronized int waitingCount() {
        return (int) waiting.stream().filter(o -> o instanceof Job).count();
    }

    public synchronized Job running() {
        return running;
    }

    public synchronized long submittedCount() {
        return submitted;
    }

    /** Cancels a waiting job (removed at once) or the running one (stops between steps). */
    public boolean cancel(Job job) {
        synchronized (this) {
            if (job.status().terminal()) {
                return false;
            }
            if (waiting.remove(job)) {
                job.finish(Job.Status.CANCELLED, List.of(), "cancelled", Map.of("id", job.id));
                announcePositions();
                return true;
            }
        }
        job.cancel.cancel();
        return true;
    }

    private String newId() {
        byte[] b = new byte[8];
        new SecureRandom().nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

    private void trimFinished() {
        Iterator<Job> it = jobs.values().iterator();
        while (jobs.size() > RETAINED && it.hasNext()) {
            if (it.next().status().terminal()) {
                it.remove();
            }
        }
    }

    private void announcePositions() {
        int i = 1;
        for (Object o : waiting) {
            if (o instanceof Job j) {
                j.emit("queued", Map.of("position", i));
            }
            i++;
        }
    }

    private void work() {
        host.load(host.current());
        while (true) {
            Object next;
            synchronized (this) {
                while (waiting.isEmpty() && !closed) {
                    try {
                        wait();
                    } catch (InterruptedException e) {
                        return;
                    }
                }
                if (closed) {
                    return;
                }
                next = waiting.poll();
                running = next instanceof Job j ? j : null;
                announcePositions();
            }
            if (next instanceof SwitchModel s) {
                host.load(s.name());
            } else {
                Job job = (Job) next;
                run(job);
                synchronized (this) {
                    running = null;
                    meanSeconds = 0.7 * meanSeconds + 0.3 * Math.max(0.001, job.seconds());
                }
            }
        }
    }

    private void run(Job job) {
        job.started();
        try {
            ZImagePipeline pipe = host.pipeline();
            List<GeneratedImage> out = pipe.generate(job.params.toRequest(), listener(job), job.cancel);
            List<Job.Image> images = new ArrayList<>();
            for (int i = 0; i < out.size(); i++) {
                GeneratedImage g = out.get(i);
                // The file name is the server's own (job id and index): nothing from the request reaches the path.
                String file = job.id + "-" + i + ".png";
                Path target = outputDir.resolve(file);
                PngFiles.write(target, g.image(), g.metadata());
                images.add(new Job.Image(i, g.seed(), file, Files.readAllBytes(target), g.metadata().toA1111Parameters()));
            }
            Map<String, Object> summary = new LinkedHashMap<>();
            summary.put("id", job.id);
            summary.put("seeds", images.stream().map(Job.Image::seed).toList());
            job.finish(Job.Status.SUCCEEDED, List.copyOf(images), null, summary);
        } catch (CancellationException e) {
            job.finish(Job.Status.CANCELLED, List.of(), "cancelled", Map.of("id", job.id));
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, "job " + job.id + " failed", e);
            String msg = e.getMessage() == null ? e.toString() : e.getMessage();
            job.finish(Job.Status.FAILED, List.of(), msg, Map.of("id", job.id, "error", msg));
        }
    }

    private PipelineListener listener(Job job) {
        int lh = job.params.height() / 8;
        int lw = job.params.width() / 8;
        return new PipelineListener() {
            @Override
            public void stage(Stage stage) {
                job.stage(switch (stage) {
                    case ENCODING_PROMPT -> "encoding prompt";
                    case ENCODING_IMAGES -> "encoding images";
                    case DENOISING -> "denoising";
                    case DECODING -> "decoding";
                });
            }

            @Override
            public void step(Denoiser.Step s) {
                int done = s.index() + 1;
                job.stepDone(done, s.total());
                afterStep.accept(job);
                int every = job.params.previewEvery();
                if (every > 0 && (done % every == 0 || done == s.total())) {
                    job.preview(done, LatentPreview.png(LatentPreview.x0(s, 0), lh, lw));
                }
            }
        };
    }

    @Override
    public void close() {
        List<Job> left;
        synchronized (this) {
            closed = true;
            left = new ArrayList<>();
            for (Object o : waiting) {
                if (o instanceof Job j) {
                    left.add(j);
                }
            }
            waiting.clear();
            if (running != null) {
                running.cancel.cancel();
            }
            notifyAll();
        }
        for (Job j : left) {
            j.finish(Job.Status.CANCELLED, List.of(), "the server shut down", Map.of("id", j.id));
        }
        try {
            worker.join(60_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        host.close();
    }
}
