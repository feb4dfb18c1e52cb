package io.github.zimage4j.kernels;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.IntConsumer;
import java.util.stream.Stream;

/**
 * The process-wide compute pool: one worker per physical core, shared by every kernel.
 *
 * <p>Work is handed out dynamically (an atomic task counter, the caller working too) rather than split
 * statically: on a shared machine one delayed core would otherwise stall the whole split.
 * The size is {@code -Dzimage.threads=N}, or {@link #setThreads(int)} before first use, else the number
 * of physical cores.
 */
public final class Parallel {

    private static volatile Parallel instance;

    private final int threads;
    private final Thread[] workers;
    private final Object lock = new Object();
    private Job current;
    private long generation;

    private Parallel(int threads) {
        this.threads = threads;
        this.workers = new Thread[threads - 1];
        for (int i = 0; i < workers.length; i++) {
            Thread t = new Thread(this::workerLoop, "zimage4j-compute-" + (i + 1));
            t.setDaemon(true);
            workers[i] = t;
            t.start();
        }
    }

    /** The shared pool, created on first use. */
    public static Parallel get() {
        Parallel p = instance;
        if (p == null) {
            synchronized (Parallel.class) {
                p = instance;
                if (p == null) {
                    String prop = System.getProperty("zimage.threads");
                    int n = prop != null ? Integer.parseInt(prop.trim()) : physicalCores();
                    instance = p = new Parallel(Math.max(1, n));
                }
            }
        }
        return p;
    }

    /**
     * Sets the pool size; must run before the first kernel call.
     *
     * @throws IllegalStateException if the pool already exists with another size
     */
    public static synchronized void setThreads(int n) {
        if (n < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + n);
        }
        if (instance != null) {
            if (instance.threads == n) {
                return;
            }
            throw new IllegalStateException("the compute pool already runs " + instance.threads + " threads");
        }
        instance = new Parallel(n);
    }

    public int threads() {
        return threads;
    }

    /**
     * Physical cores: distinct (package, core) pairs in sysfs, else {@code availableProcessors()}.
     * Hyper-threads share one core's FMA units, so a second thread per core only adds contention.
     */
    static int physicalCores() {
        int logical = Runtime.getRuntime().availableProcessors();
        Path cpus = Path.of("/sys/devices/system/cpu");
        if (!Files.isDirectory(cpus)) {
            return logical;
        }
        Set<String> cores = new HashSet<>();
        try (Stream<Path> s = Files.list(cpus)) {
            for (Path p : s.filter(p -> p.getFileName().toString().matches("cpu\\d+")).toList()) {
                Path topo = p.resolve("topology");
                if (Files.isRegularFile(topo.resolve("core_id"))) {
                    String pkg = Files.isRegularFile(topo.resolve("physical_package_id"))
                            ? Files.readString(topo.resolve("physical_package_id")).trim() : "0";
                    cores.add(pkg + ":" + Files.readString(topo.resolve("core_id")).trim());
                }
            }
        } catch (IOException | RuntimeException e) {
            return logical;
        }
        // Containers may limit us below what sysfs shows.
        return cores.isEmpty() ? logical : Math.max(1, Math.min(cores.size(), logical));
    }

    private static final class Job {
        final int tasks;
        final IntConsumer body;
        final AtomicInteger next = new AtomicInteger();
        final CountDownLatch done;
        final AtomicReference<Throwable> failure = new AtomicReference<>();

        Job(int tasks, IntConsumer body, int participants) {
            this.tasks = tasks;
            this.body = body;
            this.done = new CountDownLatch(participants);
        }

        void run() {
            try {
                int i;
                while (failure.get() == null && (i = next.getAndIncrement()) < tasks) {
                    body.accept(i);
                }
            } catch (Throwable t) {
                failure.compareAndSet(null, t);
            } finally {
                done.countDown();
            }
        }
    }

    /**
     * Runs {@code body(0) … body(tasks-1)} on the pool and waits. Tasks must be independent. Calls from
     * inside a task run serially (no nested parallelism).
     */
    public void forEach(int tasks, IntConsumer body) {
        if (tasks <= 0) {
            return;
        }
        if (tasks == 1 || threads == 1 || INSIDE.get()) {
            for (int i = 0; i < tasks; i++) {
                body.accept(i);
            }
            return;
        }
        Job job;
        synchronized (lock) {
            // One job at a time: a second caller thread waits for the pool instead of oversubscribing it.
            while (current != null) {
                try {
                    lock.wait();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while waiting for the compute pool", e);
                }
            }
            job = new Job(tasks, body, threads);
            current = job;
            generation++;
            lock.notifyAll();
        }
        INSIDE.set(true);
        try {
            job.run();
            job.done.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while computing", e);
        } finally {
            INSIDE.set(false);
            synchronized (lock) {
                current = null;
                lock.notifyAll();
            }
        }
        Throwable t = job.failure.get();
        if (t instanceof RuntimeException re) {
            throw re;
        }
        if (t instanceof Error err) {
            throw err;
        }
        if (t != null) {
            throw new IllegalStateException(t);
        }
    }

    private static final ThreadLocal<Boolean> INSIDE = ThreadLocal.withInitial(() -> false);

    private void workerLoop() {
        INSIDE.set(true);
        long seen = 0;
        while (true) {
            Job job;
            synchronized (lock) {
                while (current == null || generation == seen) {
                    try {
                        lock.wait();
                    } catch (InterruptedException e) {
                        return;
                    }
                }
                job = current;
                seen = generation;
            }
            job.run();
        }
    }
}
