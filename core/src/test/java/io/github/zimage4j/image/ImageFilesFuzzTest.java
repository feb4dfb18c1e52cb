package io.github.zimage4j.image;

import io.github.zimage4j.testing.Fuzz;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** The image reader under fuzzing ({@link Fuzz}): mutated PNG and JPEG files decode or fail with a typed error. */
class ImageFilesFuzzTest {

    static byte[] pngSeed() {
        try {
            byte[] px = new byte[12 * 8 * 3];
            for (int i = 0; i < px.length; i++) {
                px[i] = (byte) (i * 7);
            }
            Path f = Fuzz.file(new byte[0], "seed.png");
            PngFiles.write(f, new UInt8Image(12, 8, 3, px), Map.of("parameters", "a fox"));
            byte[] bytes = Files.readAllBytes(f);
            Fuzz.delete(f);
            return bytes;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static byte[] jpegSeed() {
        try {
            BufferedImage img = new BufferedImage(16, 8, BufferedImage.TYPE_INT_RGB);
            for (int y = 0; y < 8; y++) {
                for (int x = 0; x < 16; x++) {
                    img.setRGB(x, y, (x * 16) << 16 | (y * 32) << 8 | 0x40);
                }
            }
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ImageIO.write(img, "jpeg", out);
            return out.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Test
    void readRgbAndGray() throws IOException {
        Path seed = Fuzz.file(pngSeed(), "seed.png");
        ImageFiles.readRgb(seed); // the seeds themselves decode
        Fuzz.delete(seed);
        Fuzz.run("image", List.of(pngSeed(), jpegSeed()), 1500, file -> {
            Path p = Fuzz.file(file, "input.png");
            try {
                ImageFiles.readRgb(p, 16, 16);
                ImageFiles.readGray(p);
            } finally {
                Fuzz.delete(p);
            }
        }, ImageFileException.class);
    }
}
