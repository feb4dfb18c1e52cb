package io.github.zimage4j.cli;

import io.github.zimage4j.pipeline.Cancellation;

import java.io.PrintStream;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Lock;

/**
 * Ctrl-C (or a kill) cancels the work between steps; a file being written when it comes is finished
 * first (the JVM exits when the hook returns), so an interrupt never leaves a temporary or partial file.
 */
final class InterruptGuard implements AutoCloseable {

    private final Thread hook;

    /**
     * @param writing held while a file is written; the hook waits for it (up to 30 s)
     * @param message printed after the interrupt
     */
    InterruptGuard(PrintStream err, Cancellation cancel, Lock writing, String message) {
        hook = new Thread(() -> {
            cancel.cancel();
            try {
                if (writing.tryLock(30, TimeUnit.SECONDS)) {
                    writing.unlock();
                }
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
            err.println();
            err.println("zimage4j: interrupted; " + message);
        });
        Runtime.getRuntime().addShutdownHook(hook);
    }

    @Override
    public void close() {
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            // The hook is running: the JVM is already exiting.
        }
    }
}
