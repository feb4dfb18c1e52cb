package io.github.zimage4j.kernels;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.tensor.Adapter;
import io.github.zimage4j.tensor.FloatFormats;
import io.github.zimage4j.tensor.StoredTensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * Merged adapters: {@code W' = W + ΔW₁ + ΔW₂ + …} written once into a new tensor in W's own dtype (each
 * update added in float32 in turn, as PEFT's merge does, then one rounding to the stored dtype). Only
 * float dtypes merge; a quantized or fp8 weight would lose the update (or its precision) to the
 * re-quantization, so it is refused and must use the run-time adapters.
 */
public final class AdapterMerge {

    /** The dtypes a merge can write back without re-quantizing. */
    public static final Set<DType> MERGEABLE = Set.of(DType.F32, DType.BF16, DType.F16);

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int ROWS_PER_TASK = 8;

    private AdapterMerge() {
    }

    /** A copy of {@code w} with the updates added, in w's dtype, off the Java heap. */
    public static StoredTensor merged(StoredTensor w, List<Adapter> adapters) {
        if (!MERGEABLE.contains(w.dtype())) {
            throw new IllegalArgumentException(w.where() + " is " + w.dtype() + ": merged LoRA mode only writes F32, BF16"
                    + " or F16 weights; use the runtime mode (--lora-mode runtime) for quantized weights");
        }
        if (w.rank() != 2) {
            throw new IllegalArgumentException(w.where() + ": a merge needs a 2-D weight, found " + Arrays.toString(w.shape()));
        }
        int out = (int) w.dim(0);
        int in = (int) w.dim(1);
        for (Adapter a : adapters) {
            if (a.out() != out || a.in() != in) {
                throw new IllegalArgumentException(w.where() + ": an update of [" + a.out() + ", " + a.in()
                        + "] does not fit " + Arrays.toString(w.shape()));
            }
        }
        float[][] downs = new float[adapters.size()][];
        float[][] ups = new float[adapters.size()][];
        for (int i = 0; i < adapters.size(); i++) {
            if (adapters.get(i) instanceof Adapter.LowRank lr) {
                downs[i] = decodeAll(lr.down());
                ups[i] = decodeAll(lr.up());
            }
        }
        MemorySegment dst = Arena.ofAuto().allocate(w.data().byteSize(), 64);
        DType dtype = w.dtype();
        int tasks = (out + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
        Parallel.get().forEach(tasks, task -> {
            float[] row = new float[in];
            float[] delta = new float[in];
            int end = Math.min(out, (task + 1) * ROWS_PER_TASK);
            for (int o = task * ROWS_PER_TASK; o < end; o++) {
                WeightRows.decode(w, (long) o * in, in, row, 0);
                for (int i = 0; i < adapters.size(); i++) {
                    Arrays.fill(delta, 0f);
                    switch (adapters.get(i)) {
                        case Adapter.LowRank lr -> {
                            int r = lr.rank();
                            for (int j = 0; j < r; j++) {
                                float u = ups[i][o * r + j];
                                float[] down = downs[i];
                                for (int c = 0; c < in; c++) {
                                    delta[c] += u * down[j * in + c];
                                }
                            }
                            for (int c = 0; c < in; c++) {
                                row[c] += delta[c] * lr.scale();
                            }
                        }
                        case Adapter.Kronecker k -> {
                            int i1 = o / k.c();
                            int i2 = o % k.c();
                            for (int c = 0; c < in; c++) {
                                row[c] += k.scale() * (k.w1()[i1 * k.b() + c / k.d()] * k.w2()[i2 * k.d() + c % k.d()]);
                            }
                        }
                    }
                }
                long base = (long) o * in;
                for (int c = 0; c < in; c++) {
                    switch (dtype) {
                        case F32 -> dst.setAtIndex(F32, base + c, row[c]);
                        case BF16 -> dst.setAtIndex(I16, base + c, FloatFormats.floatToBf16(row[c]));
                        default -> dst.setAtIndex(I16, base + c, Float.floatToFloat16(row[c]));
                    }
                }
            }
        });
        return new StoredTensor(w.name(), w.file() + " (LoRA merged)", dtype, w.shape(), dst);
    }

    private static float[] decodeAll(StoredTensor t) {
        float[] f = new float[Math.toIntExact(t.numel())];
        WeightRows.decode(t, 0, f.length, f, 0);
        return f;
    }
}
