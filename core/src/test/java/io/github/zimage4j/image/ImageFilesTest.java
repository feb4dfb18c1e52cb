package io.github.zimage4j.image;

import io.github.zimage4j.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Reading images: formats, resizing and the errors a user sees for bad files and sizes. */
class ImageFilesTest {

    @TempDir
    Path tmp;

    @Test
    void readsJpegAsRgb() throws IOException {
        // Smooth ramps survive JPEG's chroma subsampling and quantization within a few levels.
        BufferedImage bi = new BufferedImage(48, 32, BufferedImage.TYPE_3BYTE_BGR);
        for (int y = 0; y < 32; y++) {
            for (int x = 0; x < 48; x++) {
                bi.setRGB(x, y, (x * 5 << 16) | (y * 7 << 8) | 100);
            }
        }
        Path jpg = tmp.resolve("photo.jpg");
        assertTrue(ImageIO.write(bi, "jpeg", jpg.toFile()));
        UInt8Image read = ImageFiles.readRgb(jpg);
        assertEquals(48, read.width());
        assertEquals(32, read.height());
        assertEquals(100, read.get(20, 10, 0), 6);
        assertEquals(70, read.get(20, 10, 1), 6);
        assertEquals(100, read.get(20, 10, 2), 6);

        UInt8Image resized = ImageFiles.readRgb(jpg, 24, 16);
        assertEquals(24, resized.width());
        assertEquals(16, resized.height());
    }

    @Test
    void clearErrorsForBadFiles() throws IOException {
        Path missing = tmp.resolve("nope.png");
        var e = assertThrows(NoSuchFileException.class, () -> ImageFiles.readRgb(missing));
        assertTrue(e.getMessage().contains("nope.png"), e.getMessage());

        Path empty = Files.createFile(tmp.resolve("empty.png"));
        IOException io = assertThrows(IOException.class, () -> ImageFiles.readRgb(empty));
        assertTrue(io.getMessage().contains("empty.png") && io.getMessage().contains("empty file"), io.getMessage());

        Path webp = tmp.resolve("pic.webp");
        Files.write(webp, new byte[]{'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', ' '});
        io = assertThrows(IOException.class, () -> ImageFiles.readRgb(webp));
        assertTrue(io.getMessage().contains("pic.webp") && io.getMessage().contains("WebP")
                && io.getMessage().contains("PNG and JPEG"), io.getMessage());

        Path text = tmp.resolve("notes.png");
        Files.writeString(text, "hello, this is not an image");
        io = assertThrows(IOException.class, () -> ImageFiles.readGray(text));
        assertTrue(io.getMessage().contains("notes.png") && io.getMessage().contains("not a recognized image"), io.getMessage());

        Path good = tmp.resolve("good.png");
        PngFiles.write(good, PngFilesTest.gradient(64, 64), Map.of());
        byte[] bytes = Files.readAllBytes(good);
        Path truncated = tmp.resolve("truncated.png");
        Files.write(truncated, Arrays.copyOf(bytes, bytes.length / 2));
        io = assertThrows(IOException.class, () -> ImageFiles.readRgb(truncated));
        assertTrue(io.getMessage().contains("truncated.png") && io.getMessage().contains("cannot decode"), io.getMessage());
    }

    @Test
    void clearErrorsForImpossibleSizes() {
        var e = assertThrows(IllegalArgumentException.class, () -> ImageFiles.requireSize(1000, 768, 16));
        assertTrue(e.getMessage().contains("1000x768") && e.getMessage().contains("multiple of 16")
                && e.getMessage().contains("992x768"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ImageFiles.requireSize(0, 64, 16));
        assertTrue(e.getMessage().contains("positive"), e.getMessage());
        ImageFiles.requireSize(1024, 768, 16);
        Path any = tmp.resolve("any.png");
        e = assertThrows(IllegalArgumentException.class, () -> ImageFiles.readRgb(any, -8, 64));
        assertTrue(e.getMessage().contains("-8x64"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> LanczosResize.resize(PngFilesTest.gradient(4, 4), 4, 0));
    }

    @Test
    void lanczosKeepsFlatImagesFlatAndSameSizeIsACopy() {
        byte[] px = new byte[30 * 20 * 3];
        Arrays.fill(px, (byte) 200);
        UInt8Image flat = new UInt8Image(30, 20, 3, px);
        for (int[] size : new int[][]{{7, 5}, {61, 43}, {30, 9}, {11, 20}}) {
            UInt8Image r = LanczosResize.resize(flat, size[0], size[1]);
            for (byte b : r.pixels()) {
                assertEquals(200, b & 0xFF);
            }
        }
        UInt8Image same = LanczosResize.resize(flat, 30, 20);
        assertArrayEquals(px, same.pixels());
        assertTrue(same.pixels() != px);
    }

    @Test
    void tensorConversionErrors() {
        var e = assertThrows(IllegalArgumentException.class, () -> ImageTensors.fromDecoded(Tensor.zeros(1, 3, 8, 8)));
        assertTrue(e.getMessage().contains("[1, 3, 8, 8]") && e.getMessage().contains("batch"), e.getMessage());
        Tensor nan = Tensor.zeros(3, 2, 2);
        nan.data()[5] = Float.NaN;
        e = assertThrows(IllegalArgumentException.class, () -> ImageTensors.fromDecoded(nan));
        assertTrue(e.getMessage().contains("NaN") && e.getMessage().contains("channel 1"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ImageTensors.toModelInput(new UInt8Image(2, 2, 1, new byte[4])));
        // Saturation and ties: −1 → 0, 1 → 255, beyond clamps; 0.5/255 rounds half to even.
        Tensor t = new Tensor(new float[]{-1f, 1f, -3f, 7f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f}, 3, 2, 2);
        UInt8Image img = ImageTensors.fromDecoded(t);
        assertEquals(0, img.get(0, 0, 0));
        assertEquals(255, img.get(1, 0, 0));
        assertEquals(0, img.get(0, 1, 0));
        assertEquals(255, img.get(1, 1, 0));
        assertEquals(128, img.get(0, 0, 1)); // 0.5·255 = 127.5 → 128 (even)
    }
}
