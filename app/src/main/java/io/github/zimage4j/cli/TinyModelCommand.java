package io.github.zimage4j.cli;

import io.github.zimage4j.pipeline.TinyModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code zimage4j tiny-model DIR}: a toy model for smoke runs and demos. */
@Command(name = "tiny-model", mixinStandardHelpOptions = true,
        description = "Write a tiny Z-Image-Turbo model with random weights and the full diffusers folder layout "
                + "(a few MB; real architecture and vocabulary at toy widths; its images are noise). For smoke runs.")
final class TinyModelCommand implements Callable<Integer> {

    @Parameters(paramLabel = "DIR", description = "The folder to write (created).")
    Path dir;

    @Option(names = "--seed", defaultValue = "1", description = "Seed of the random weights. Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--overwrite", description = "Replace the files of an existing folder (default: refuse a folder that is not empty).")
    boolean overwrite;

    @Override
    public Integer call() throws Exception {
        if (java.nio.file.Files.exists(dir) && !java.nio.file.Files.isDirectory(dir)) {
            throw new IllegalArgumentException("DIR: " + dir + " is a file, not a folder");
        }
        if (!overwrite && java.nio.file.Files.isDirectory(dir)) {
            try (java.util.stream.Stream<Path> s = java.nio.file.Files.list(dir)) {
                if (s.findAny().isPresent()) {
                    throw new IllegalArgumentException("DIR: " + dir + " exists and is not empty; choose another folder or pass --overwrite");
                }
            }
        }
        Path parent = dir.toAbsolutePath().getParent();
        if (parent != null && java.nio.file.Files.isDirectory(parent) && !java.nio.file.Files.isWritable(parent)
                && !java.nio.file.Files.isDirectory(dir)) {
            throw new IllegalArgumentException("DIR: cannot create " + dir + ": " + parent + ": permission denied");
        }
        TinyModel.write(dir, seed);
        System.out.println(dir);
        return 0;
    }
}
