package io.github.zimage4j.io;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.HexFormat;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Files that appear whole or not at all: the content goes to a hidden temporary file in the target's
 * folder, which is then renamed (or, when nothing may be replaced, hard-linked) to the target. A failure
 * removes the temporary file; the temporaries of a killed process (their names carry its process id) are
 * removed by the next write into the same folder.
 */
public final class AtomicFiles {

    private AtomicFiles() {
    }

    /** Marks our temporary files: {@code .NAME.PID-RANDOM.zimage4j-tmp}. */
    static final String SUFFIX = ".zimage4j-tmp";

    /** Writes the temporary file whose path it is given. */
    @FunctionalInterface
    public interface Content {
        void writeTo(Path temporary) throws IOException;
    }

    /**
     * Writes {@code target} through a temporary file.
     *
     * @param replace whether an existing target may be replaced; if not, an existing target (also one that
     *                appeared while the content was written) is left alone and a
     *                {@link FileAlreadyExistsException} is thrown
     */
    public static void write(Path target, boolean replace, Content content) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new NoSuchFileException(target.toString(), null, "the folder " + dir + " does not exist");
        }
        removeStaleTemporaries(dir);
        Path tmp = dir.resolve("." + target.getFileName() + "." + ProcessHandle.current().pid() + "-"
                + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt()) + SUFFIX);
        try {
            content.writeTo(tmp);
            publish(tmp, target.toAbsolutePath(), replace);
        } catch (Throwable t) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException cleanup) {
                t.addSuppressed(cleanup);
            }
            throw t;
        }
    }

    /** Writes {@code content} to {@code target} through a synced temporary file, replacing an existing target. */
    public static void write(Path target, byte[] content) throws IOException {
        write(target, true, tmp -> {
            try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(tmp,
                    java.nio.file.StandardOpenOption.CREATE_NEW, java.nio.file.StandardOpenOption.WRITE)) {
                java.nio.ByteBuffer buf = java.nio.ByteBuffer.wrap(content);
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
                ch.force(true);
            }
        });
    }

    private static void publish(Path tmp, Path target, boolean replace) throws IOException {
        if (replace) {
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
            return;
        }
        try {
            // A hard link fails if the target exists: no window in which another file could be replaced.
            Files.createLink(target, tmp);
            Files.delete(tmp);
        } catch (FileAlreadyExistsException e) {
            throw new FileAlreadyExistsException(target.toString(), null, "already exists; not replaced");
        } catch (UnsupportedOperationException | FileSystemException e) {
            if (e instanceof FileSystemException fse && Files.exists(target)) {
                throw new FileAlreadyExistsException(target.toString(), null, "already exists; not replaced");
            }
            // No hard links here (some network and FAT file systems): a rename that refuses an existing target.
            Files.move(tmp, target);
        }
    }

    /** Deletes our temporary files in {@code dir} whose writing process no longer runs. */
    public static void removeStaleTemporaries(Path dir) {
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir, "." + "*" + SUFFIX)) {
            for (Path p : s) {
                long pid = pidOf(p.getFileName().toString());
                if (pid > 0 && pid != ProcessHandle.current().pid() && ProcessHandle.of(pid).isEmpty()) {
                    Files.deleteIfExists(p);
                }
            }
        } catch (IOException | RuntimeException ignored) {
            // Cleaning up is a courtesy: an unreadable folder fails the write itself with a clear message.
        }
    }

    /** The process id in {@code .NAME.PID-RANDOM.zimage4j-tmp}, or -1. */
    static long pidOf(String name) {
        String core = name.substring(0, name.length() - SUFFIX.length());
        int dot = core.lastIndexOf('.');
        int dash = core.lastIndexOf('-');
        if (dot < 0 || dash < dot) {
            return -1;
        }
        try {
            return Long.parseLong(core.substring(dot + 1, dash));
        } catch (NumberFormatException e) {
            return -1;
        }
    }
}
