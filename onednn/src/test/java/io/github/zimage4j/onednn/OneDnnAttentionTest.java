package io.github.zimage4j.onednn;

import io.github.zimage4j.kernels.AttentionSpec;
import io.github.zimage4j.kernels.Backends;
import io.github.zimage4j.kernels.HostBackend;
import io.github.zimage4j.kernels.FlashAttention.Operand;
import io.github.zimage4j.kernels.JavaBackend;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Blocked oneDNN attention against the Java flash attention: float32 to rounding, bf16 within its rounding. */
class OneDnnAttentionTest {

    /**
     * Query and key counts that are not multiples of a vector or of a block (masked row tails, a short
     * last block), fewer queries than keys (causal with an offset), grouped-query heads, and score budgets
     * small enough that heads run in several groups with a shorter last group.
     */
    @ParameterizedTest(name = "queries={0} keys={1} heads={2}/{3} hd={4} causal={5} bf16={6} budget={7}")
    @CsvSource({
            "300,300,4,4,32,false,false,0",
            "300,300,4,4,32,false,true,0",
            "333,333,8,2,64,true,false,0",
            "333,333,8,2,64,true,true,0",
            "129,129,30,30,128,false,true,0",
            "261,517,5,5,64,false,false,1100000",
            "261,517,5,5,64,false,true,1100000",
            "77,1001,12,4,64,true,false,2800000",
            "77,1001,12,4,64,true,true,2800000",
            "517,517,3,1,128,true,true,1"})
    void matchesJavaKernel(int queries, int keys, int heads, int kvHeads, int hd, boolean causal, boolean bf16, long budget) {
        Random rnd = new Random(queries + 31L * keys + heads);
        int qw = heads * hd;
        int kw = kvHeads * hd;
        float[] q = random(rnd, queries * qw, 1f);
        float[] k = random(rnd, keys * kw, 1f);
        float[] v = random(rnd, keys * kw, 1f);
        AttentionSpec spec = new AttentionSpec(queries, keys, heads, kvHeads, hd, (float) (1 / Math.sqrt(hd)), causal, null, 0, bf16);
        Operand qo = new Operand(q, 0, qw);
        Operand ko = new Operand(k, 0, kw);
        Operand vo = new Operand(v, 0, kw);
        assertTrue(OneDnnAttention.suits(qo, ko, vo, new Operand(new float[0], 0, qw), spec), "the oneDNN path is taken");
        float[] want = new float[queries * qw];
        JavaBackend.INSTANCE.attention(qo, ko, vo, new Operand(want, 0, qw), spec);
        float[] got = new float[queries * qw];
        if (budget == 0) {
            ((HostBackend) Backends.select("onednn")).attention(qo, ko, vo, new Operand(got, 0, qw), spec);
        } else {
            OneDnnAttention attention = new OneDnnAttention(Dnnl.get());
            attention.scoreBytes(budget);
            attention.run(qo, ko, vo, new Operand(got, 0, qw), spec);
        }
        assertClose(want, got, bf16);
    }

    /** Large logits (sharp rows, most weights far below the maximum) are where an exponential's range shows. */
    @Test
    void sharpSoftmaxRowsMatch() {
        int tokens = 200;
        int heads = 4;
        int hd = 64;
        int qw = heads * hd;
        Random rnd = new Random(3);
        float[] q = random(rnd, tokens * qw, 6f);
        float[] k = random(rnd, tokens * qw, 6f);
        float[] v = random(rnd, tokens * qw, 1f);
        AttentionSpec spec = AttentionSpec.self(tokens, heads, hd);
        Operand qo = new Operand(q, 0, qw);
        Operand ko = new Operand(k, 0, qw);
        Operand vo = new Operand(v, 0, qw);
        float[] want = new float[tokens * qw];
        float[] got = new float[tokens * qw];
        JavaBackend.INSTANCE.attention(qo, ko, vo, new Operand(want, 0, qw), spec);
        ((HostBackend) Backends.select("onednn")).attention(qo, ko, vo, new Operand(got, 0, qw), spec);
        assertClose(want, got, false);
    }

    /** Key masks (padding) and a non-positive scale are left to the Java kernel, with its exact result. */
    @Test
    void keyMasksAndOddScalesFallBackToJava() {
        int tokens = 300;
        int heads = 4;
        int hd = 32;
        int qw = heads * hd;
        Random rnd = new Random(9);
        Operand qo = new Operand(random(rnd, tokens * qw, 1f), 0, qw);
        Operand ko = new Operand(random(rnd, tokens * qw, 1f), 0, qw);
        Operand vo = new Operand(random(rnd, tokens * qw, 1f), 0, qw);
        boolean[] mask = new boolean[tokens];
        for (int j = 0; j < tokens; j++) {
            mask[j] = j < 250;
        }
        for (AttentionSpec spec : List.of(AttentionSpec.self(tokens, heads, hd).withKeyMask(mask, 0).withBf16(true),
                AttentionSpec.self(tokens, heads, hd).withScale(-0.1f))) {
            assertFalse(OneDnnAttention.suits(qo, ko, vo, new Operand(new float[0], 0, qw), spec), spec.toString());
            float[] want = new float[tokens * qw];
            float[] got = new float[tokens * qw];
            JavaBackend.INSTANCE.attention(qo, ko, vo, new Operand(want, 0, qw), spec);
            ((HostBackend) Backends.select("onednn")).attention(qo, ko, vo, new Operand(got, 0, qw), spec);
            assertArrayEquals(want, got);
        }
    }

    @Test
    void freshProcessesWithOneTwoAndFourThreadsGiveTheSameBits() throws Exception {
        Map<Integer, String> byThreads = new LinkedHashMap<>();
        for (int threads : new int[] {1, 2, 4}) {
            byThreads.put(threads, runInFreshJvm(threads));
        }
        String first = byThreads.get(1);
        assertEquals(Map.of(1, first, 2, first, 4, first), Map.copyOf(byThreads), "digest per thread count");
    }

    private static String runInFreshJvm(int threads) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElseThrow());
        for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (!arg.startsWith("-Dzimage.threads") && !arg.startsWith("-agentlib") && !arg.startsWith("-javaagent")) {
                cmd.add(arg);
            }
        }
        cmd.add("-Dzimage.threads=" + threads);
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(Probe.class.getName());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(5, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new AssertionError("the probe with " + threads + " threads did not finish");
        }
        assertEquals(0, p.exitValue(), "probe with " + threads + " threads failed:\n" + out);
        return out.lines().filter(l -> l.startsWith("digest ")).findFirst()
                .orElseThrow(() -> new AssertionError("no digest from the probe:\n" + out));
    }

    /**
     * The child process: DiT-like bf16 attention in three head groups (13, 13, 4) and causal grouped-query
     * float32 attention.
     */
    public static final class Probe {
        public static void main(String[] args) throws Exception {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            Backends.select("onednn"); // sets up oneDNN with this process's thread count
            OneDnnAttention attention = new OneDnnAttention(Dnnl.get());
            attention.scoreBytes(10L << 20);
            for (AttentionSpec spec : List.of(AttentionSpec.self(700, 30, 128).withBf16(true),
                    AttentionSpec.self(333, 8, 64).withKvHeads(2).withCausal(true))) {
                Random rnd = new Random(1);
                int qw = spec.heads() * spec.headDim();
                int kw = spec.kvHeads() * spec.headDim();
                Operand qo = new Operand(random(rnd, spec.queries() * qw, 1f), 0, qw);
                Operand ko = new Operand(random(rnd, spec.keys() * kw, 1f), 0, kw);
                Operand vo = new Operand(random(rnd, spec.keys() * kw, 1f), 0, kw);
                float[] out = new float[spec.queries() * qw];
                attention.run(qo, ko, vo, new Operand(out, 0, qw), spec);
                for (float f : out) {
                    int b = Float.floatToRawIntBits(f);
                    md.update(new byte[] {(byte) b, (byte) (b >> 8), (byte) (b >> 16), (byte) (b >> 24)});
                }
            }
            System.out.println("digest " + HexFormat.of().formatHex(md.digest()));
        }
    }

    private static void assertClose(float[] want, float[] got, boolean bf16) {
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

    private static float[] random(Random rnd, int n, float std) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) rnd.nextGaussian() * std;
        }
        return x;
    }
}
