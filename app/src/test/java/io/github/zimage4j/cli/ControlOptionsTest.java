package io.github.zimage4j.cli;

import io.github.zimage4j.image.GenerationMetadata;
import io.github.zimage4j.image.ImageFiles;
import io.github.zimage4j.image.PngFiles;
import io.github.zimage4j.image.UInt8Image;
import io.github.zimage4j.pipeline.TinyModel;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static io.github.zimage4j.cli.GenerateCommandTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** --init-image, --strength, --mask, the control options and the preprocess command. */
class ControlOptionsTest {

    @TempDir
    static Path model;

    @TempDir
    Path out;

    @BeforeAll
    static void tinyModel() throws IOException {
        TinyModel.write(model, 3);
    }

    /** A 72×50 RGB picture with a bright square: not a multiple of 16, so the size is rounded. */
    Path picture() throws IOException {
        byte[] px = new byte[72 * 50 * 3];
        for (int y = 10; y < 30; y++) {
            for (int x = 20; x < 40; x++) {
                for (int c = 0; c < 3; c++) {
                    px[(y * 72 + x) * 3 + c] = (byte) 230;
                }
            }
        }
        Path p = out.resolve("in.png");
        PngFiles.write(p, new UInt8Image(72, 50, 3, px), Map.of());
        return p;
    }

    @Test
    void imageToImageAndInpaintingTakeTheImageSize() throws IOException {
        Path in = picture();
        Result r = run("generate", "--model", model.toString(), "-p", "x", "--init-image", in.toString(), "--strength", "0.5",
                "--steps", "4", "--seed", "3", "-o", out.resolve("a.png").toString());
        assertEquals(0, r.code(), r.err());
        GenerationMetadata meta = PngFiles.readMetadata(out.resolve("a.png"));
        assertEquals(64, meta.width());
        assertEquals(48, meta.height());
        assertEquals("0.5", meta.extra().get("Denoising strength"));

        r = run("generate", "--model", model.toString(), "-p", "x", "--init-image", in.toString(), "--mask", in.toString(),
                "--steps", "2", "--seed", "3", "-o", out.resolve("b.png").toString());
        assertEquals(0, r.code(), r.err());
        assertEquals("inpaint", PngFiles.readMetadata(out.resolve("b.png")).extra().get("Mode"));
    }

    @Test
    void badCombinationsFailBeforeLoading() throws IOException {
        Path in = picture();
        Result r = run("generate", "--model", model.toString(), "-p", "x", "--mask", in.toString(), "-o", out.resolve("a.png").toString());
        assertTrue(r.code() == 1 && r.err().contains("a mask needs an init image"), r.err());
        r = run("generate", "--model", model.toString(), "-p", "x", "--control-image", in.toString(), "-o", out.resolve("a.png").toString());
        assertTrue(r.code() == 1 && r.err().contains("--control-image needs --controlnet"), r.err());
        r = run("generate", "--model", model.toString(), "-p", "x", "--init-image", out.resolve("none.png").toString(),
                "-o", out.resolve("a.png").toString());
        assertTrue(r.code() == 1 && r.err().contains("--init-image") && r.err().contains("none.png"), r.err());
        r = run("generate", "--model", model.toString(), "-p", "x", "--control-image", in.toString(), "--control-type", "sketch",
                "--controlnet", in.toString(), "-o", out.resolve("a.png").toString());
        assertTrue(r.code() == 1 && r.err().contains("unknown control type 'sketch'"), r.err());
        // A file that is not a ControlNet is named.
        r = run("generate", "--model", model.toString(), "-p", "x", "-W", "64", "-H", "64", "--control-image", in.toString(),
                "--controlnet", model.resolve("vae").toString(), "-o", out.resolve("a.png").toString());
        assertTrue(r.code() == 1 && r.err().contains("is not a Z-Image ControlNet"), r.err());
        assertFalse(Files.exists(out.resolve("a.png")));
    }

    @Test
    void preprocessCannyWritesAnEdgeMap() throws IOException {
        Path in = picture();
        Path edges = out.resolve("edges.png");
        Result r = run("preprocess", "canny", in.toString(), edges.toString(), "--low", "50", "--high", "150");
        assertEquals(0, r.code(), r.err());
        UInt8Image e = ImageFiles.readGray(edges);
        assertEquals(72, e.width());
        // The square's left side (x = 20) has its edge at x = 19, inside it nothing.
        assertEquals(255, e.get(19, 20, 0));
        assertEquals(0, e.get(30, 20, 0));
        r = run("preprocess", "sobel", in.toString(), edges.toString());
        assertTrue(r.code() == 1 && r.err().contains("unknown preprocessor 'sobel'"), r.err());
        r = run("preprocess", "canny", in.toString(), edges.toString(), "--low", "300");
        assertTrue(r.code() == 1 && r.err().contains("0 ≤ low ≤ high"), r.err());
    }

    private record Result(int code, String err) {
    }

    private static Result run(String... args) {
        GenerateCommandTest.Result r = GenerateCommandTest.run(args);
        return new Result(r.code(), r.err());
    }
}
