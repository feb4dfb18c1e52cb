package io.github.zimage4j.cli;

import io.github.zimage4j.image.GenerationMetadata;
import io.github.zimage4j.image.PngFiles;
import io.github.zimage4j.pipeline.TinyModel;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The generate command on a tiny random model: a full run, and every bad request failing before heavy work. */
class GenerateCommandTest {

    @TempDir
    static Path model;

    @TempDir
    Path out;

    @BeforeAll
    static void tinyModel() throws IOException {
        TinyModel.write(model, 3);
    }

    record Result(int code, String err) {
    }

    static Result run(String... args) {
        CommandLine cl = Main.commandLine();
        StringWriter err = new StringWriter();
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new Result(code, err.toString());
    }

    @Test
    void generatesTwoImagesWithMetadata() throws IOException {
        Result r = run("generate", "--model", model.toString(), "-p", "一只在雪地里的红狐狸", "-W", "64", "-H", "48",
                "--seed", "7", "--batch", "2", "--steps", "2", "-o", out.resolve("img-{seed}.png").toString());
        assertEquals(0, r.code(), r.err());
        for (long seed : new long[]{7, 8}) {
            Path png = out.resolve("img-" + seed + ".png");
            assertTrue(Files.isRegularFile(png), png + " written");
            GenerationMetadata meta = PngFiles.readMetadata(png);
            assertEquals(seed, meta.seed());
            assertEquals("一只在雪地里的红狐狸", meta.prompt());
            assertEquals(64, meta.width());
            assertEquals(48, meta.height());
            assertEquals(2, meta.steps());
            assertTrue(PngFiles.readText(png).get(PngFiles.PARAMETERS_KEY).contains("Seed: " + seed));
        }
        try (Stream<Path> s = Files.list(out)) {
            assertEquals(2, s.count(), "no temporary files left");
        }
    }

    @Test
    void sizeNotAMultipleOf16() {
        Result r = run("generate", "--model", model.toString(), "-p", "x", "-W", "100", "-o", out.resolve("a.png").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("multiples of 16") && r.err().contains("100x1024") && r.err().contains("nearest valid: 96x1024"), r.err());
    }

    @Test
    void stepsMustBePositive() {
        Result r = run("generate", "--model", model.toString(), "-p", "x", "--steps", "0", "-o", out.resolve("a.png").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("steps must be at least 1, got 0"), r.err());
    }

    @Test
    void missingComponent() throws IOException {
        Path broken = out.resolve("broken");
        Files.createDirectories(broken.resolve("transformer"));
        Files.writeString(broken.resolve("model_index.json"), "{}");
        Result r = run("generate", "--model", broken.toString(), "-p", "x", "-o", out.resolve("a.png").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("has no text_encoder/ folder") && r.err().contains("--text-encoder"), r.err());
    }

    @Test
    void unreadableWeightFile() throws IOException {
        Path bad = out.resolve("bad.safetensors");
        Files.write(bad, new byte[]{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
        Result r = run("generate", "--model", model.toString(), "--vae", bad.toString(), "-p", "x", "-W", "64", "-H", "64",
                "-o", out.resolve("a.png").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains(bad.toString()), r.err());
        assertFalse(Files.exists(out.resolve("a.png")));
    }

    @Test
    void missingOutputFolderAndPrompt() {
        Result r = run("generate", "--model", model.toString(), "-p", "x", "-o", out.resolve("nope/a.png").toString());
        assertTrue(r.code() == 1 && r.err().contains("does not exist"), r.err());
        r = run("generate", "--model", model.toString());
        assertTrue(r.code() == 1 && r.err().contains("no prompt"), r.err());
    }

    @Test
    void infoDescribesTheModel() {
        CommandLine cl = Main.commandLine();
        StringWriter o = new StringWriter();
        cl.setOut(new PrintWriter(o, true));
        java.io.PrintStream old = System.out;
        java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream();
        System.setOut(new java.io.PrintStream(buf, true));
        try {
            assertEquals(0, cl.execute("info", model.toString()));
        } finally {
            System.setOut(old);
        }
        String text = buf.toString();
        assertTrue(text.contains("Z-Image-Turbo") && text.contains("BF16") && text.contains("tensors"), text);
    }
}
