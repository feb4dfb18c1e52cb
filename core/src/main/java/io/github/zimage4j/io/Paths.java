package io.github.zimage4j.io;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;

/** Checks on input paths that turn the file system's terse failures into sentences. */
public final class Paths {

    private Paths() {
    }

    /**
     * Requires a readable regular file.
     *
     * @param what how the caller names it in messages ("--prompt-file", "tokenizer", …)
     * @throws ModelFileException naming the path and the reason: missing, a folder, a symbolic link loop,
     *                            permission denied
     */
    public static void requireReadableFile(Path file, String what) throws ModelFileException {
        BasicFileAttributes a = attributes(file, what);
        if (a.isDirectory()) {
            throw new ModelFileException(what + ": " + file + " is a folder, not a file");
        }
        if (!a.isRegularFile()) {
            throw new ModelFileException(what + ": " + file + " is not a regular file");
        }
        if (!Files.isReadable(file)) {
            throw new ModelFileException(what + ": " + file + ": permission denied (not readable)");
        }
    }

    /** The attributes of {@code p} (links followed), or a {@link ModelFileException} that says why there are none. */
    public static BasicFileAttributes attributes(Path p, String what) throws ModelFileException {
        try {
            return Files.readAttributes(p, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            throw new ModelFileException(what + ": " + p + " does not exist", e);
        } catch (AccessDeniedException e) {
            throw new ModelFileException(what + ": " + p + ": permission denied", e);
        } catch (FileSystemException e) {
            throw new ModelFileException(what + ": " + p + ": " + reason(e), e);
        } catch (IOException e) {
            throw new ModelFileException(what + ": " + p + ": " + e.getMessage(), e);
        }
    }

    /** The file system's reason in words ("a symbolic link loop", "no space left on the device", …). */
    public static String reason(FileSystemException e) {
        String r = e.getReason();
        if (e instanceof AccessDeniedException) {
            return "permission denied";
        }
        if (e instanceof NoSuchFileException) {
            return "does not exist";
        }
        if (r == null) {
            return e.getClass().getSimpleName();
        }
        if (r.contains("Too many levels of symbolic links")) {
            return "a symbolic link loop (the link points back to itself)";
        }
        if (r.contains("No space left")) {
            return "no space left on the device";
        }
        return r;
    }
}
