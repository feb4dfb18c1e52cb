package io.github.zimage4j.cli;

import io.github.zimage4j.image.PngFiles;
import io.github.zimage4j.onednn.Prepack;
import io.github.zimage4j.pipeline.TinyModel;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Everything that can be checked before a model byte is read is refused at once, with the reason in words. */
class RefuseBeforeWorkTest {

    @TempDir
    static Path model;

    @TempDir
    Path out;

    @BeforeAll
    static void tinyModel() throws IOException {
        TinyModel.write(model, 3);
    }

    static GenerateCommandTest.Result generate(String... extra) {
        String[] base = {"generate", "--model", model.toString(), "-W", "32", "-H", "32", "--steps", "1", "--backend", "java"};
        String[] args = new String[base.length + extra.length];
        System.arraycopy(base, 0, args, 0, base.length);
        System.arraycopy(extra, 0, args, base.length, extra.length);
        return GenerateCommandTest.run(args);
    }

    static void refused(GenerateCommandTest.Result r, String... phrases) {
        assertEquals(1, r.code(), r.err());
        for (String p : phrases) {
            assertTrue(r.err().contains(p), "expected \"" + p + "\" in: " + r.err());
        }
    }

    @Test
    void anExistingFileIsNeverReplacedSilently() throws IOException {
        Path target = out.resolve("fox.png");
        Files.writeString(target, "precious");
        refused(generate("-o", target.toString(), "-s", "1", "fox"), target.toString(), "exists", "--overwrite");
        assertEquals("precious", Files.readString(target));
        GenerateCommandTest.Result r = generate("-o", target.toString(), "-s", "1", "--overwrite", "fox");
        assertEquals(0, r.code(), r.err());
        assertEquals("fox", PngFiles.readMetadata(target).prompt());
    }

    @Test
    void outputTargetsAreChecked() throws IOException {
        Path folder = Files.createDirectories(out.resolve("taken.png"));
        refused(generate("-o", folder.toString(), "fox"), "is a folder");
        refused(generate("-o", "", "fox"), "--output", "empty");
        refused(generate("-o", out.resolve("missing/fox.png").toString(), "fox"), "does not exist");
        assertEquals("out.d/image-{index}", GenerateCommand.withIndexSuffix("out.d/image"));
        assertEquals("out.d/image-{index}.png", GenerateCommand.withIndexSuffix("out.d/image.png"));
        assertEquals("image-{index}", GenerateCommand.withIndexSuffix("image"));
    }

    @Test
    void boundsAreCheckedInstantly() {
        long t0 = System.nanoTime();
        refused(generate("-b", "2000000000", "fox"), "image count", "from 1 to 100");
        refused(generate("-g", "NaN", "fox"), "guidance", "from 0 to 50");
        refused(generate("-g", "Infinity", "fox"), "guidance");
        refused(generate("-g", "60", "fox"), "guidance");
        refused(generate("--cfg-truncation", "1.5", "fox"), "cfg truncation", "from 0 to 1");
        refused(generate("--cfg-truncation", "-0.1", "fox"), "cfg truncation");
        refused(generate("--cfg-normalization", "Infinity", "fox"), "cfg normalization");
        refused(generate("-p", "a\0b"), "NUL", "position 1");
        refused(generate("--threads", "0", "fox"), "--threads must be at least 1");
        refused(generate("--prepack", "maybe", "fox"), "--prepack", "auto, on or off", "'maybe'");
        assertTrue((System.nanoTime() - t0) / 1e9 < 30, "refusals take no model work");
        assertTrue(ComputeOptions.threadsWarning(64, 2).contains("more than the 2 processors"));
        assertNull(ComputeOptions.threadsWarning(2, 2));
        assertEquals(Prepack.ON, ComputeOptions.prepackMode("on"));
        assertEquals(Prepack.OFF, ComputeOptions.prepackMode("OFF"));
    }

    @Test
    void maxSequenceLengthIsCheckedAgainstTheRopeTableBeforeEncoding() {
        refused(generate("--max-sequence-length", "5000", "-o", out.resolve("a.png").toString(), "fox"),
                "max sequence length 5000", "RoPE", "1504");
        assertFalse(Files.exists(out.resolve("a.png")));
    }

    @Test
    void promptFilesAreReadStrictly() throws IOException {
        Path bad = out.resolve("latin1.txt");
        Files.write(bad, new byte[]{'c', 'a', 'f', (byte) 0xE9, ' ', 'x'});
        refused(generate("--prompt-file", bad.toString()), "not UTF-8", "0xE9", "byte offset 3");
        refused(generate("--prompt-file", out.toString()), "is a folder");
        Path a = out.resolve("loop-a");
        Path b = out.resolve("loop-b");
        Files.createSymbolicLink(a, b);
        Files.createSymbolicLink(b, a);
        refused(generate("--prompt-file", a.toString()), "symbolic link loop");
        refused(generate("--tokenizer", out.toString(), "fox"), "no tokenizer.json");

        Path bom = out.resolve("bom.txt");
        Files.write(bom, ("\uFEFFa fox").getBytes(StandardCharsets.UTF_8));
        Path png = out.resolve("bom.png");
        GenerateCommandTest.Result r = generate("--prompt-file", bom.toString(), "-o", png.toString(), "-s", "3");
        assertEquals(0, r.code(), r.err());
        assertEquals("a fox", PngFiles.readMetadata(png).prompt(), "the BOM is dropped");
    }

    @Test
    void fileSystemFailuresAreSaidInWords() {
        assertEquals("/x/y.png: permission denied", Main.describe(new AccessDeniedException("/x/y.png")));
        assertEquals("/x/y.png: no space left on the device",
                Main.describe(new FileSystemException("/x/y.png", null, "No space left on device")));
        assertEquals("/x/l: a symbolic link loop (the link points back to itself)",
                Main.describe(new FileSystemException("/x/l", null, "Too many levels of symbolic links")));
    }

    @Test
    void infoAndCheckExitNonZeroOnInvalidModels() throws IOException {
        assertEquals(0, GenerateCommandTest.run("check", model.toString()).code(), "check MODEL_ROOT looks into transformer/");
        assertEquals(0, silently("info", model.toString()));
        Path broken = Files.createDirectories(out.resolve("broken"));
        for (String c : new String[]{"transformer", "text_encoder", "vae", "tokenizer", "scheduler"}) {
            if (Files.exists(model.resolve(c))) {
                copyTree(model.resolve(c), broken.resolve(c));
            }
        }
        Files.writeString(broken.resolve("model_index.json"), "");
        assertEquals(1, silently("info", broken.toString()), "an empty model_index.json");
        Files.copy(model.resolve("model_index.json"), broken.resolve("model_index.json"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Path cfg = broken.resolve("transformer/config.json");
        Files.writeString(cfg, Files.readString(cfg).replace("\"n_layers\": 2", "\"n_layers\": 3").replace("\"n_layers\":2", "\"n_layers\":3"));
        assertEquals(1, silently("info", broken.toString()), "a transformer that misses the layers its config names");
        assertEquals(1, GenerateCommandTest.run("check", broken.toString()).code());
    }

    @Test
    void convertAndTinyModelRefuseToReplace() throws IOException {
        Path vae = model.resolve("vae/diffusion_pytorch_model.safetensors");
        Path target = out.resolve("vae-f16.safetensors");
        Files.writeString(target, "precious");
        GenerateCommandTest.Result r = GenerateCommandTest.run("convert", "--dtype", "f16", vae.toString(), target.toString());
        refused(r, "exists", "--overwrite");
        assertEquals("precious", Files.readString(target));
        r = GenerateCommandTest.run("convert", "--dtype", "f16", "--overwrite", vae.toString(), target.toString());
        assertEquals(0, r.code(), r.err());
        r = GenerateCommandTest.run("convert", "--dtype", "f16", out.resolve("nothing.safetensors").toString(),
                out.resolve("never.safetensors").toString());
        assertEquals(1, r.code());
        try (Stream<Path> s = Files.list(out)) {
            assertEquals(java.util.List.of("vae-f16.safetensors"), s.map(p -> p.getFileName().toString()).sorted().toList(),
                    "a failed convert leaves nothing behind");
        }
        refused(GenerateCommandTest.run("tiny-model", model.toString()), "not empty", "--overwrite");
    }

    private static int silently(String... args) {
        java.io.PrintStream old = System.out;
        System.setOut(new java.io.PrintStream(java.io.OutputStream.nullOutputStream()));
        try {
            return GenerateCommandTest.run(args).code();
        } finally {
            System.setOut(old);
        }
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> s = Files.walk(from)) {
            for (Path p : s.toList()) {
                Path d = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(d);
                } else {
                    Files.copy(p, d);
                }
            }
        }
    }

    @Test
    void samePixelsWithOverwrite() throws IOException {
        Path a = out.resolve("a.png");
        assertEquals(0, generate("-o", a.toString(), "-s", "9", "fox").code());
        byte[] first = Files.readAllBytes(a);
        assertEquals(0, generate("-o", a.toString(), "-s", "9", "--overwrite", "fox").code());
        assertArrayEquals(first, Files.readAllBytes(a));
    }
}
