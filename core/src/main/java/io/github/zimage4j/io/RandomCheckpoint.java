package io.github.zimage4j.io;

import io.github.zimage4j.kernels.Parallel;
import io.github.zimage4j.tensor.FloatFormats;
import io.github.zimage4j.tensor.StoredTensor;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Writes full-size checkpoints with random weights and the real tensor names and shapes, for benchmarks
 * (real weights are multi-GB downloads). Streamed chunk by chunk, so memory stays small whatever the
 * size; deterministic for a seed whatever the thread count.
 *
 * <p>Values: matrices and convolutions N(0,1)/√fan_in (fan_in = product of all but the first
 * dimension); 1-D {@code *.weight} (norm scales) 1 + 0.02·N(0,1); everything else 0.02·N(0,1).
 */
public final class RandomCheckpoint {

    private RandomCheckpoint() {
    }

    private static final int CHUNK = 1 << 20;

    /** Writes {@code shapes} (name → shape) in {@code dtype} (F32, BF16 or F16) to {@code file}. */
    public static void write(Path file, Map<String, long[]> shapes, DType dtype, long seed) throws IOException {
        if (dtype != DType.F32 && dtype != DType.BF16 && dtype != DType.F16) {
            throw new IllegalArgumentException("random checkpoints are F32, BF16 or F16, not " + dtype);
        }
        SafeTensorsWriter w = new SafeTensorsWriter();
        long index = 0;
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            String name = e.getKey();
            long[] shape = e.getValue();
            long numel = StoredTensor.numel(shape);
            long tensorSeed = seed * 1_000_003L + index++;
            w.add(name, dtype, shape, dtype.byteSize(numel), out -> {
                float scale;
                float offset;
                if (shape.length >= 2) {
                    scale = (float) (1 / Math.sqrt(numel / shape[0]));
                    offset = 0;
                } else {
                    scale = 0.02f;
                    offset = name.endsWith(".weight") ? 1f : 0f;
                }
                byte[] bytes = new byte[CHUNK * dtype.bytes()];
                for (long start = 0; start < numel; start += CHUNK) {
                    int n = (int) Math.min(CHUNK, numel - start);
                    fill(bytes, n, dtype, new SplittableRandom(tensorSeed * 31 + start / CHUNK), scale, offset);
                    out.write(bytes, 0, n * dtype.bytes());
                }
            });
        }
        w.write(file);
    }

    private static void fill(byte[] bytes, int n, DType dtype, SplittableRandom chunkRandom, float scale, float offset) {
        ByteBuffer bb = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        int parts = 16;
        int per = (n + parts - 1) / parts;
        long[] seeds = new long[parts];
        for (int p = 0; p < parts; p++) {
            seeds[p] = chunkRandom.nextLong();
        }
        Parallel.get().forEach(parts, p -> {
            SplittableRandom r = new SplittableRandom(seeds[p]);
            int end = Math.min(n, (p + 1) * per);
            for (int i = p * per; i < end; i++) {
                float v = offset + scale * (float) r.nextGaussian();
                switch (dtype) {
                    case F32 -> bb.putFloat(i * 4, v);
                    case BF16 -> bb.putShort(i * 2, FloatFormats.floatToBf16(v));
                    default -> bb.putShort(i * 2, Float.floatToFloat16(v));
                }
            }
        });
    }
}
