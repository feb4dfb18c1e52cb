package io.github.zimage4j.dit;

import io.github.zimage4j.io.Checkpoints;
import io.github.zimage4j.io.DType;
import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.io.SafeTensorsWriter;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.tensor.StoredTensor;
import io.github.zimage4j.tensor.Tensor;
import io.github.zimage4j.testing.Compare;
import io.github.zimage4j.testing.Golden;
import io.github.zimage4j.testing.TestBackend;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * ComfyUI fp8 checkpoints with per-tensor scales, written here from golden weights in both of ComfyUI's
 * forms ({@code scale_weight} with the {@code scaled_fp8} marker, and {@code weight_scale} +
 * {@code comfy_quant}). The expected weights are computed in this test from the float8 e4m3fn definition
 * (not the library's decoder): every weight reads as {@code decode(q)·scale} bit for bit, and the
 * transformer run on the fp8 file gives what it gives on those values stored as F32.
 */
class Fp8CheckpointTest {

    @TempDir
    Path tmp;

    /** e4m3fn by definition: bias 7, no infinities, S.1111.111 is NaN. */
    static float e4m3(int b) {
        int sign = (b >> 7) & 1;
        int exp = (b >> 3) & 15;
        int man = b & 7;
        if (exp == 15 && man == 7) {
            return Float.NaN;
        }
        double v = exp == 0 ? Math.scalb(man / 8.0, -6) : Math.scalb(1 + man / 8.0, exp - 7);
        return (float) (sign == 1 ? -v : v);
    }

    /** The nearest e4m3fn code (ties to the even code): codes 0…126 are the finite magnitudes in increasing order. */
    static byte nearest(float x) {
        float a = Math.abs(x);
        int lo = 0;
        int hi = 126;
        while (lo < hi) { // the first code whose value is >= a
            int mid = (lo + hi) >>> 1;
            if (e4m3(mid) < a) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        int best = lo;
        if (lo > 0) {
            double up = e4m3(lo) - (double) a;
            double down = a - (double) e4m3(lo - 1);
            if (down < up || (down == up && ((lo - 1) & 1) == 0)) {
                best = lo - 1;
            }
        }
        return (byte) (x < 0 ? best | 0x80 : best);
    }

    record Files(Path fp8, Path expected) {
    }

    /** Every 2-D weight of the case as fp8 with an absmax scale; everything else unchanged. */
    Files write(Path caseDir, boolean comfyQuant) throws IOException {
        Path fp8 = tmp.resolve((comfyQuant ? "comfy_quant" : "scaled") + "-fp8.safetensors");
        Path expected = tmp.resolve((comfyQuant ? "comfy_quant" : "scaled") + "-expected.safetensors");
        SafeTensorsWriter out = new SafeTensorsWriter();
        SafeTensorsWriter ref = new SafeTensorsWriter();
        if (!comfyQuant) {
            out.add("scaled_fp8", DType.F8_E4M3, new long[]{0}, MemorySegment.ofArray(new byte[0]));
        }
        try (SafeTensors w = SafeTensors.open(caseDir.resolve("model.safetensors"))) {
            for (String name : w.names()) {
                StoredTensor t = w.get(name);
                float[] v = t.toFloats();
                if (t.rank() != 2 || !name.endsWith(".weight")) {
                    out.addF32(name, t.shape(), v);
                    ref.addF32(name, t.shape(), v);
                    continue;
                }
                float amax = 0;
                for (float f : v) {
                    amax = Math.max(amax, Math.abs(f));
                }
                float scale = amax / 448f;
                byte[] q = new byte[v.length];
                float[] dq = new float[v.length];
                for (int i = 0; i < v.length; i++) {
                    q[i] = nearest(v[i] / scale);
                    dq[i] = e4m3(q[i] & 0xFF) * scale;
                }
                String layer = name.substring(0, name.length() - ".weight".length());
                out.add(name, DType.F8_E4M3, t.shape(), MemorySegment.ofArray(q));
                if (comfyQuant) {
                    out.addF32(layer + ".weight_scale", new long[]{}, new float[]{scale});
                    out.addF32(layer + ".input_scale", new long[]{}, new float[]{1f});
                    byte[] conf = "{\"format\": \"float8_e4m3fn\"}".getBytes(StandardCharsets.UTF_8);
                    out.add(layer + ".comfy_quant", DType.U8, new long[]{conf.length}, MemorySegment.ofArray(conf));
                } else {
                    out.addF32(layer + ".scale_weight", new long[]{1}, new float[]{scale});
                }
                ref.addF32(name, t.shape(), dq);
            }
        }
        out.write(fp8);
        ref.write(expected);
        return new Files(fp8, expected);
    }

    @Test
    void scaledFp8() throws IOException {
        check(false);
    }

    @Test
    void comfyQuantFp8() throws IOException {
        check(true);
    }

    void check(boolean comfyQuant) throws IOException {
        Path dir = Golden.cases("transformer").get(0);
        Files f = write(dir, comfyQuant);
        ZImageTransformerConfig cfg = ZImageTransformerConfig.read(dir.resolve("config.json"));
        try (TensorSource fp8 = Checkpoints.open(f.fp8());
             SafeTensors expected = SafeTensors.open(f.expected());
             SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"))) {
            assertEquals(expected.names(), fp8.names(), "scales and markers are hidden, weights keep their names");
            for (String name : expected.names()) {
                float[] want = expected.get(name).toFloats();
                float[] got = fp8.get(name).toFloats();
                for (int i = 0; i < want.length; i++) {
                    if (Float.floatToRawIntBits(want[i]) != Float.floatToRawIntBits(got[i])) {
                        fail(name + "[" + i + "]: expected " + want[i] + ", got " + got[i]);
                    }
                }
            }
            assertEquals(DType.F8_E4M3, fp8.get("layers.0.attention.to_q.weight").dtype(), "stays fp8 in memory");
            List<ZImageTransformer.Input> inputs = TransformerGoldenTest.inputs(in);
            List<Tensor> a = new ZImageTransformer(fp8, cfg, TestBackend.get()).forward(inputs);
            List<Tensor> b = new ZImageTransformer(expected, cfg, TestBackend.get()).forward(inputs);
            for (int i = 0; i < a.size(); i++) {
                double rel = Compare.relativeError(a.get(i).data(), b.get(i).data());
                assertTrue(rel <= 1e-5, "out." + i + ": fp8 path differs from the dequantized F32 path by " + rel);
            }
        }
    }

    @Test
    void otherComfyQuantFormatsAreRefusedByName() throws IOException {
        Path file = tmp.resolve("int8.safetensors");
        byte[] conf = "{\"format\": \"int8_tensorwise\"}".getBytes(StandardCharsets.UTF_8);
        new SafeTensorsWriter().add("blocks.0.weight", DType.I8, new long[]{2, 2}, MemorySegment.ofArray(new byte[4]))
                .addF32("blocks.0.weight_scale", new long[]{}, new float[]{1f})
                .add("blocks.0.comfy_quant", DType.U8, new long[]{conf.length}, MemorySegment.ofArray(conf))
                .write(file);
        ModelFileException e = assertThrows(ModelFileException.class, () -> Checkpoints.open(file).close());
        assertTrue(e.getMessage().contains("blocks.0") && e.getMessage().contains("int8_tensorwise"), e.getMessage());
    }
}
