package io.github.zimage4j.cli;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.io.Checkpoints;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.quantize.TransformerQuantizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;

/** {@code zimage4j quantize}: a Z-Image transformer to a GGUF file that stable-diffusion.cpp and ComfyUI-GGUF load. */
@Command(name = "quantize", mixinStandardHelpOptions = true,
        description = {"Quantize a Z-Image transformer (a diffusers transformer folder or file, or ComfyUI's single file"
                + " z_image*_bf16.safetensors) into GGUF, with ggml's reference quantizers and the tensor names and"
                + " metadata stable-diffusion.cpp and ComfyUI-GGUF expect. Norms, biases, pad tokens, small tensors and"
                + " the input/output layers stay in F32. The model is streamed, never held in memory; the output is"
                + " written atomically.",
                "Example: zimage4j quantize z_image_turbo_bf16.safetensors z_image_turbo-Q8_0.gguf --type q8_0"})
final class QuantizeCommand implements Callable<Integer> {

    static final List<DType> TYPES = List.of(DType.Q8_0, DType.Q4_0, DType.Q4_1, DType.Q5_0, DType.Q5_1,
            DType.Q4_K, DType.Q5_K, DType.Q6_K, DType.BF16, DType.F16);

    @Parameters(index = "0", paramLabel = "IN", description = "The transformer: a folder, a .safetensors file or a .safetensors.index.json.")
    Path input;

    @Parameters(index = "1", paramLabel = "OUT", description = "The .gguf file to write (its folder must exist).")
    Path output;

    @Option(names = "--type", required = true, paramLabel = "TYPE",
            description = {"q8_0, int8, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k, bf16 or f16.",
                    "int8: Q8_0 blocks that share their row's scale (int8 per output channel): any Q8_0 reader loads it,"
                            + " and the oneDNN backend multiplies it on the int8 units without re-quantizing the weights,"
                            + " which a plain q8_0 file needs (slightly less accurate)."})
    String type;

    @Option(names = "--force", description = "Replace OUT if it exists.")
    boolean force;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        boolean int8 = type.equalsIgnoreCase("int8");
        DType target = int8 ? DType.Q8_0 : TYPES.stream().filter(t -> t.name().equalsIgnoreCase(type)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("--type: '" + type + "' is not one of q8_0, int8, q4_0, q4_1,"
                        + " q5_0, q5_1, q4_k, q5_k, q6_k, bf16, f16"));
        if (!Files.exists(input)) {
            throw new IllegalArgumentException("IN: " + input + " does not exist");
        }
        Path dir = output.toAbsolutePath().getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new IllegalArgumentException("OUT: folder " + dir + " does not exist");
        }
        if (Files.exists(output) && !force) {
            throw new IllegalArgumentException("OUT: " + output + " exists; pass --force to replace it");
        }
        PrintWriter err = spec.commandLine().getErr();
        boolean terminal = System.console() != null;
        try (TensorSource src = Checkpoints.open(input)) {
            List<TransformerQuantizer.Planned> plan = TransformerQuantizer.plan(src, target);
            long in = 0;
            Map<DType, Integer> counts = new TreeMap<>();
            for (TransformerQuantizer.Planned p : plan) {
                for (var part : p.parts()) {
                    in += part.data().byteSize();
                }
                counts.merge(p.type(), 1, Integer::sum);
            }
            var writer = TransformerQuantizer.writer(plan, target, int8);
            err.printf("quantizing %d tensors (%s), %.2f GB → %.2f GB …%n", plan.size(), counts, in / 1e9, writer.fileSize() / 1e9);
            err.flush();
            long t0 = System.nanoTime();
            writer.write(output, (i, n, name, done, total) -> {
                String line = String.format("%d/%d tensors, %.2f/%.2f GB  %s", i + 1, n, done / 1e9, total / 1e9, name);
                if (terminal) {
                    int filled = (int) (30 * done / Math.max(1, total));
                    err.print("\r[" + "#".repeat(filled) + " ".repeat(30 - filled) + "] " + line + "          ");
                    if (i + 1 == n) {
                        err.println();
                    }
                } else if ((i + 1) % 50 == 0 || i + 1 == n) {
                    err.println(line);
                }
                err.flush();
            });
            err.printf("wrote %s (%.2f GB) in %.0f s%n", output, Files.size(output) / 1e9, (System.nanoTime() - t0) / 1e9);
        }
        return 0;
    }
}
