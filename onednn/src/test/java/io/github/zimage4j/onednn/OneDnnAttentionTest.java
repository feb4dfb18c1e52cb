package io.github.zimage4j.onednn;

import io.github.zimage4j.kernels.AttentionSpec;
import io.github.zimage4j.kernels.HostBackend;
import io.github.zimage4j.kernels.Backends;
import io.github.zimage4j.kernels.FlashAttention.Operand;
import io.github.zimage4j.kernels.JavaBackend;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** Blocked oneDNN attention against the Java flash attention: float32 exactly, bf16 within its rounding. */
class OneDnnAttentionTest {

    @ParameterizedTest(name = "tokens={0} heads={1}/{2} hd={3} causal={4} bf16={5}")
    @CsvSource({
            "300,4,4,32,false,false",
            "300,4,4,32,false,true",
            "333,8,2,64,true,false",
            "333,8,2,64,true,true",
            "129,30,30,128,false,true"})
    void matchesJavaKernel(int tokens, int heads, int kvHeads, int hd, boolean causal, boolean bf16) {
        Random rnd = new Random(tokens + heads);
        int qw = heads * hd;
        int kw = kvHeads * hd;
        float[] q = random(rnd, tokens * qw);
        float[] k = random(rnd, tokens * kw);
        float[] v = random(rnd, tokens * kw);
        AttentionSpec spec = AttentionSpec.self(tokens, heads, hd).withKvHeads(kvHeads).withCausal(causal).withBf16(bf16);
        Operand qo = new Operand(q, 0, qw);
        Operand ko = new Operand(k, 0, kw);
        Operand vo = new Operand(v, 0, kw);
        assertTrue(OneDnnAttention.suits(qo, ko, vo, new Operand(new float[0], 0, qw), spec), "the oneDNN path is taken");
        float[] want = new float[tokens * qw];
        float[] got = new float[tokens * qw];
        JavaBackend.INSTANCE.attention(qo, ko, vo, new Operand(want, 0, qw), spec);
        HostBackend dnnl = (HostBackend) Backends.select("onednn");
        dnnl.attention(qo, ko, vo, new Operand(got, 0, qw), spec);
        double err = 0;
        double ref = 0;
        double maxDiff = 0;
        for (int i = 0; i < want.length; i++) {
            err += Math.pow(got[i] - want[i], 2);
            ref += want[i] * (double) want[i];
            maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]));
        }
        double rel = Math.sqrt(err / ref);
        if (bf16) {
            assertTrue(rel < 1e-2, "relative RMS error " + rel);
        } else {
            assertTrue(maxDiff < 1e-5, "max |diff| " + maxDiff);
        }
    }

    private static float[] random(Random rnd, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        return x;
    }
}
