package io.github.zimage4j.kernels;

import io.github.zimage4j.kernels.FlashAttention.Operand;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** Blocked online-softmax attention against the textbook softmax(QKᵀ·s + mask)·V in float64. */
class FlashAttentionTest {

    @ParameterizedTest(name = "sq={0} skv={1} heads={2}/{3} hd={4} causal={5} mask={6}")
    @CsvSource({
            "1,1,1,1,16,false,false",
            "7,7,2,2,32,false,false",
            "64,64,2,2,32,false,false",
            "200,200,3,3,128,false,false",
            "33,150,4,2,16,false,true",
            "70,70,4,1,24,true,false",
            "45,45,8,2,128,true,true",
            "130,130,2,2,40,false,true",
            "5,300,2,2,512,false,false"})
    void matchesReference(int sq, int skv, int heads, int kvHeads, int hd, boolean causal, boolean masked) {
        Random rnd = new Random(sq * 31L + skv * 7L + heads + hd);
        int qw = heads * hd;
        int kw = kvHeads * hd;
        // Strided operands: q, k, v live side by side in one buffer, like a fused projection.
        int stride = qw + 2 * kw + 3;
        int rows = Math.max(sq, skv);
        float[] buf = new float[rows * stride];
        for (int i = 0; i < buf.length; i++) {
            buf[i] = (float) (rnd.nextGaussian() * 1.5);
        }
        boolean[] mask = null;
        if (masked) {
            mask = new boolean[skv + 2];
            for (int j = 0; j < mask.length; j++) {
                mask[j] = rnd.nextInt(4) != 0;
            }
            mask[2] = true; // every query sees at least one key
        }
        float scale = (float) (1 / Math.sqrt(hd));
        float[] out = new float[sq * qw];
        FlashAttention.attention(new Operand(buf, 0, stride), new Operand(buf, qw, stride), new Operand(buf, qw + kw, stride),
                new Operand(out, 0, qw), new AttentionSpec(sq, skv, heads, kvHeads, hd, scale, causal, mask, 2, false));
        for (int h = 0; h < heads; h++) {
            int kh = h / (heads / kvHeads);
            for (int i = 0; i < sq; i++) {
                double[] s = new double[skv];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < skv; j++) {
                    boolean visible = (!causal || j <= i + (skv - sq)) && (mask == null || mask[2 + j]);
                    if (!visible) {
                        s[j] = Double.NEGATIVE_INFINITY;
                        continue;
                    }
                    double d = 0;
                    for (int c = 0; c < hd; c++) {
                        d += (double) buf[i * stride + h * hd + c] * buf[j * stride + qw + kh * hd + c];
                    }
                    s[j] = d * scale;
                    max = Math.max(max, s[j]);
                }
                double sum = 0;
                for (int j = 0; j < skv; j++) {
                    s[j] = s[j] == Double.NEGATIVE_INFINITY ? 0 : Math.exp(s[j] - max);
                    sum += s[j];
                }
                for (int c = 0; c < hd; c++) {
                    double ref = 0;
                    for (int j = 0; j < skv; j++) {
                        ref += s[j] / sum * buf[j * stride + qw + kw + kh * hd + c];
                    }
                    double got = out[i * qw + h * hd + c];
                    assertTrue(Math.abs(got - ref) <= 2e-5 * (1 + Math.abs(ref)),
                            "head " + h + " row " + i + " col " + c + ": " + got + " vs " + ref);
                }
            }
        }
    }
}
