package io.github.zimage4j.cli;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.io.SafeTensorsWriter;
import io.github.zimage4j.tensor.FloatFormats;
import io.github.zimage4j.tensor.StoredTensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code zimage4j convert}: rewrites a checkpoint's floating-point tensors in another dtype. Z-Image-Turbo's
 * transformer ships in float32 (24.6 GB): as bf16 (12.3 GB) it fits in memory next to the rest.
 */
@Command(name = "convert", mixinStandardHelpOptions = true,
        description = {"Rewrite a safetensors checkpoint (file, index or folder) with its floating-point tensors in another dtype, "
                + "rounding to nearest even. Integer tensors and names are kept; the output is one file, written atomically.",
                "Example: zimage4j convert --dtype bf16 ~/.cache/huggingface/hub/models--Tongyi-MAI--Z-Image-Turbo/snapshots/*/transformer "
                        + "turbo-transformer-bf16.safetensors (then pass it with --transformer)."})
final class ConvertCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "INPUT", description = "A .safetensors file, a .safetensors.index.json or a folder holding one checkpoint.")
    Path input;

    @Parameters(index = "1", paramLabel = "OUTPUT", description = "The .safetensors file to write (its folder must exist).")
    Path output;

    @Option(names = "--dtype", defaultValue = "bf16", description = "Target dtype: bf16, f16 or f32. Default: ${DEFAULT-VALUE}.")
    String dtype;

    @Override
    public Integer call() throws Exception {
        DType target = switch (dtype.toLowerCase()) {
            case "bf16" -> DType.BF16;
            case "f16", "fp16" -> DType.F16;
            case "f32", "fp32" -> DType.F32;
            default -> throw new IllegalArgumentException("--dtype: '" + dtype + "' is not bf16, f16 or f32");
        };
        Path dir = output.toAbsolutePath().getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new IllegalArgumentException("OUTPUT: folder " + dir + " does not exist");
        }
        try (SafeTensors src = SafeTensors.open(input)) {
            SafeTensorsWriter w = new SafeTensorsWriter();
            src.metadata().forEach(w::metadata);
            long in = 0;
            long out = 0;
            for (String name : src.names()) {
                StoredTensor t = src.get(name);
                in += t.data().byteSize();
                if (!t.dtype().isFloatingPoint() || t.dtype() == target) {
                    w.add(name, t.dtype(), t.shape(), t.data());
                    out += t.data().byteSize();
                    continue;
                }
                long n = t.numel();
                out += target.byteSize(n);
                w.add(name, target, t.shape(), target.byteSize(n), os -> write(t, target, os));
            }
            System.err.printf("converting %d tensors, %.2f GB → %.2f GB …%n", src.names().size(), in / 1e9, out / 1e9);
            long t0 = System.nanoTime();
            w.write(output);
            System.err.printf("wrote %s in %.0f s%n", output, (System.nanoTime() - t0) / 1e9);
        }
        return 0;
    }

    /** Streams a tensor converted element by element (through float32, which every source dtype fits exactly). */
    private static void write(StoredTensor t, DType target, OutputStream os) throws java.io.IOException {
        int chunk = 1 << 20;
        ByteBuffer buf = ByteBuffer.allocate(chunk * target.bytes()).order(ByteOrder.LITTLE_ENDIAN);
        long n = t.numel();
        for (long start = 0; start < n; start += chunk) {
            int len = (int) Math.min(chunk, n - start);
            buf.clear();
            for (int i = 0; i < len; i++) {
                float v = t.getFloat(start + i);
                switch (target) {
                    case BF16 -> buf.putShort(FloatFormats.floatToBf16(v));
                    case F16 -> buf.putShort(Float.floatToFloat16(v));
                    default -> buf.putFloat(v);
                }
            }
            os.write(buf.array(), 0, len * target.bytes());
        }
    }
}
