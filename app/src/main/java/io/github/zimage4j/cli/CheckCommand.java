package io.github.zimage4j.cli;

import io.github.zimage4j.dit.TransformerCheckpoint;
import io.github.zimage4j.dit.ZImageTransformerConfig;
import io.github.zimage4j.io.CheckpointCheck;
import io.github.zimage4j.io.Checkpoints;
import io.github.zimage4j.io.TensorSource;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code zimage4j check}: validates a transformer checkpoint against its config without loading it. */
@Command(name = "check", mixinStandardHelpOptions = true,
        description = "Check a Z-Image transformer checkpoint against its config.json: lists every missing, "
                + "unexpected and mis-shaped tensor. Reads only the headers (the weights are memory-mapped, not read).")
final class CheckCommand implements Callable<Integer> {

    @Parameters(paramLabel = "CHECKPOINT",
            description = "A transformer folder (config.json + safetensors), a .safetensors file, a .safetensors.index.json"
                    + " or a GGUF file, in diffusers or original/ComfyUI names.")
    Path checkpoint;

    @Option(names = "--config", paramLabel = "FILE",
            description = "The transformer config.json (default: config.json beside the checkpoint).")
    Path config;

    @Override
    public Integer call() throws Exception {
        Path dir = Files.isDirectory(checkpoint) ? checkpoint : checkpoint.toAbsolutePath().getParent();
        Path cfgFile = config != null ? config : dir.resolve("config.json");
        if (!Files.isRegularFile(cfgFile)) {
            throw new IllegalArgumentException("no config.json at " + cfgFile + "; pass --config FILE");
        }
        ZImageTransformerConfig cfg = ZImageTransformerConfig.read(cfgFile);
        try (TensorSource st = Checkpoints.open(checkpoint)) {
            TensorSource named = TransformerCheckpoint.inDiffusersNames(st);
            CheckpointCheck.Report report = CheckpointCheck.compare(st.description(), cfg.expectedTensors(), named.shapes(), List.of());
            System.out.println(report);
            return report.ok() ? 0 : 1;
        }
    }
}
