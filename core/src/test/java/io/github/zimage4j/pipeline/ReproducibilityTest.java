package io.github.zimage4j.pipeline;

import io.github.zimage4j.image.UInt8Image;
import io.github.zimage4j.tensor.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/**
 * The same settings give the same bytes: the tiny model run repeatedly in one JVM (the first run partly
 * interpreted, later ones JIT-compiled), in fresh JVMs with 1, 2 and 4 compute threads, and as images of
 * a batch against the same seed alone. Runs on {@code -Dzimage.backend} (the oneDNN module reruns it).
 */
class ReproducibilityTest {

    @TempDir
    static Path model;

    /** With guidance (a negative prompt in the same transformer call) and 3 steps: every stage runs. */
    static GenerationRequest request(long seed) {
        return GenerationRequest.builder().prompt("a red fox in the snow").size(128, 96).steps(3).guidance(2.0)
                .negativePrompt("blurry").seed(seed).build();
    }

    @BeforeAll
    static void tinyModel() throws IOException {
        TinyModel.write(model, 3);
    }

    static String backend() {
        return System.getProperty("zimage.backend", "java");
    }

    static ZImagePipeline open(Path dir) throws IOException {
        return ZImagePipeline.load(ModelFiles.resolve(dir.toString(), ModelFiles.Overrides.none()),
                new ZImagePipeline.Options(backend(), null));
    }

    /** SHA-256 of an image's pixels and of its final latents' float bits. */
    static String digest(GeneratedImage image) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            UInt8Image px = image.image();
            md.update(px.pixels());
            Tensor lat = image.latents();
            ByteBuffer bits = ByteBuffer.allocate(lat.data().length * 4);
            bits.asFloatBuffer().put(lat.data());
            md.update(bits.array());
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void repeatedRunsInOneProcessGiveTheSameBytes() throws IOException {
        try (ZImagePipeline pipe = open(model)) {
            List<String> runs = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                runs.add(digest(pipe.generate(request(42)).get(0)));
            }
            assertEquals(List.of(runs.get(0), runs.get(0), runs.get(0)), runs, "three runs of the same request");
            assertNotEquals(runs.get(0), digest(pipe.generate(request(43)).get(0)), "another seed gives another image");
        }
    }

    @Test
    void aSecondPipelineInTheSameProcessGivesTheSameBytes() throws IOException {
        String first;
        try (ZImagePipeline pipe = open(model)) {
            first = digest(pipe.generate(request(42)).get(0));
        }
        try (ZImagePipeline pipe = open(model)) {
            assertEquals(first, digest(pipe.generate(request(42)).get(0)), "the same request on a freshly loaded pipeline");
        }
    }

    @Test
    void everyImageOfABatchEqualsItsSeedAlone() throws IOException {
        try (ZImagePipeline pipe = open(model)) {
            List<GeneratedImage> batch = pipe.generate(request(7).toBuilder().count(3).build());
            for (int i = 0; i < 3; i++) {
                assertEquals(7 + i, batch.get(i).seed());
                assertEquals(digest(pipe.generate(request(7 + i)).get(0)), digest(batch.get(i)),
                        "image " + i + " of a batch of 3 against seed " + (7 + i) + " alone");
            }
        }
    }

    @Test
    void freshProcessesWithOneTwoAndFourThreadsGiveTheSameBytes() throws Exception {
        Map<Integer, String> byThreads = new LinkedHashMap<>();
        for (int threads : new int[] {1, 2, 4}) {
            byThreads.put(threads, runInFreshJvm(threads));
        }
        String first = byThreads.get(1);
        assertEquals(Map.of(1, first, 2, first, 4, first), Map.copyOf(byThreads), "digest per thread count");
    }

    /** Runs {@link Probe} in a new JVM with the given compute threads; returns its digest line. */
    private static String runInFreshJvm(int threads) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElseThrow());
        for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (!arg.startsWith("-Dzimage.threads") && !arg.startsWith("-agentlib") && !arg.startsWith("-javaagent")) {
                cmd.add(arg);
            }
        }
        cmd.add("-Dzimage.threads=" + threads);
        cmd.add("-Dzimage.backend=" + backend());
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(Probe.class.getName());
        cmd.add(model.toString());
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

    /** The child process: one generation, its digest on stdout. */
    public static final class Probe {
        public static void main(String[] args) throws IOException {
            try (ZImagePipeline pipe = open(Path.of(args[0]))) {
                System.out.println("digest " + digest(pipe.generate(request(42)).get(0)));
            }
        }
    }
}
