package io.github.zimage4j.image;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Node;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** PNG output: text chunks as standard readers see them, the A1111 format, pixels, and atomic writing. */
class PngFilesTest {

    @TempDir
    Path tmp;

    static GenerationMetadata turbo(String prompt, String negative) {
        Map<String, String> extra = new LinkedHashMap<>();
        extra.put("Lora hashes", "detail: 1234, style: 5678");
        return new GenerationMetadata(prompt, negative, 8, "Euler", 0.0, 0.0, 1.0, 42, 1024, 768, "Z-Image-Turbo",
                "abcdef0123", 3.0, null, 512, "float32", "zimage4j 0.1.0", extra);
    }

    @Test
    void a1111ParametersHaveTheExactInfotextFormat() {
        GenerationMetadata m = turbo("a cat, sitting: on a mat", "blurry");
        assertEquals("a cat, sitting: on a mat\n"
                        + "Negative prompt: blurry\n"
                        + "Steps: 8, Sampler: Euler, CFG scale: 1.0, Seed: 42, Size: 1024x768, Model hash: abcdef0123, "
                        + "Model: Z-Image-Turbo, RNG: CPU, Shift: 3.0, Lora hashes: \"detail: 1234, style: 5678\", "
                        + "Version: zimage4j 0.1.0",
                m.toA1111Parameters());

        GenerationMetadata base = new GenerationMetadata("p", "", 28, "Euler", 4.0, 1.0, 0.15, 7, 64, 48, "Z-Image",
                null, 6.0, 0.6, 512, "float32", "zimage4j 0.1.0", null);
        // No negative prompt line; the model hash is left out when unknown; img2img strength is A1111's Denoising strength.
        assertEquals("p\nSteps: 28, Sampler: Euler, CFG scale: 5.0, Seed: 7, Size: 64x48, Model: Z-Image, "
                + "Denoising strength: 0.6, RNG: CPU, Shift: 6.0, CFG normalization: 1.0, CFG truncation: 0.15, "
                + "Version: zimage4j 0.1.0", base.toA1111Parameters());
    }

    /** A1111's own parser (modules/infotext_utils.py: parse_generation_parameters), ported for the check. */
    @Test
    void a1111ParserReadsTheFieldsBack() {
        String text = turbo("line one\nline two", "bad, ugly").toA1111Parameters();
        String[] lines = text.split("\n");
        Pattern param = Pattern.compile("\\s*(\\w[\\w \\-/]+):\\s*(\"(?:\\\\.|[^\\\\\"])+\"|[^,]*)(?:,|$)");
        Matcher m = param.matcher(lines[lines.length - 1]);
        Map<String, String> fields = new LinkedHashMap<>();
        while (m.find()) {
            String v = m.group(2);
            fields.put(m.group(1), v.startsWith("\"") ? (String) io.github.zimage4j.io.Json.parse(v) : v);
        }
        assertEquals("8", fields.get("Steps"));
        assertEquals("1024x768", fields.get("Size"));
        assertEquals("42", fields.get("Seed"));
        assertEquals("1.0", fields.get("CFG scale"));
        assertEquals("detail: 1234, style: 5678", fields.get("Lora hashes"));
        assertEquals("Negative prompt: bad, ugly", lines[2]);
        assertEquals("line one", lines[0]);
    }

    @Test
    void textChunksAsJavaxImageioSeesThem() throws IOException {
        Path ascii = tmp.resolve("ascii.png");
        Path chinese = tmp.resolve("chinese.png");
        UInt8Image img = gradient(40, 24);
        GenerationMetadata latin = turbo("a café at dusk", "");
        GenerationMetadata cjk = turbo("一幅为名为“造相”的项目设计的创意海报", "模糊");
        PngFiles.write(ascii, img, latin);
        PngFiles.write(chinese, img, cjk);

        Map<String, String[]> a = chunks(ascii);
        assertEquals("tEXt", a.get("parameters")[0], "Latin-1 infotext goes in tEXt, as A1111 writes it");
        assertEquals(latin.toA1111Parameters(), a.get("parameters")[1]);
        assertEquals("iTXt", a.get("zimage4j")[0]);
        assertEquals(latin, GenerationMetadata.fromJson(a.get("zimage4j")[1]));

        Map<String, String[]> c = chunks(chinese);
        assertEquals("iTXt", c.get("parameters")[0], "text Latin-1 cannot hold goes in UTF-8 iTXt");
        assertTrue(c.get("parameters")[1].startsWith("一幅为名为“造相”的项目设计的创意海报\nNegative prompt: 模糊\nSteps: 8"));
        assertEquals(cjk, GenerationMetadata.fromJson(c.get("zimage4j")[1]));
        assertEquals(cjk, PngFiles.readMetadata(chinese));
        assertEquals(cjk.toA1111Parameters(), PngFiles.readText(chinese).get(PngFiles.PARAMETERS_KEY));
    }

    @Test
    void pixelsRoundTrip() throws IOException {
        UInt8Image rgb = gradient(33, 17);
        Path file = tmp.resolve("rgb.png");
        PngFiles.write(file, rgb, turbo("x", ""));
        assertArrayEquals(rgb.pixels(), ImageFiles.readRgb(file).pixels());
        BufferedImage viaImageIo = ImageIO.read(file.toFile());
        assertEquals(33, viaImageIo.getWidth());
        assertEquals(17, viaImageIo.getHeight());
        int argb = viaImageIo.getRGB(5, 9);
        assertEquals(rgb.get(5, 9, 0), (argb >> 16) & 0xFF);
        assertEquals(rgb.get(5, 9, 1), (argb >> 8) & 0xFF);
        assertEquals(rgb.get(5, 9, 2), argb & 0xFF);

        UInt8Image gray = ImageFiles.readGray(file);
        Path grayFile = tmp.resolve("gray.png");
        PngFiles.write(grayFile, gray, Map.of());
        assertArrayEquals(gray.pixels(), ImageFiles.readGray(grayFile).pixels());
        assertNull(PngFiles.readMetadata(grayFile));
    }

    @Test
    void writesAtomicallyAndCleansUp() throws IOException {
        UInt8Image img = gradient(8, 8);
        Path target = tmp.resolve("out.png");
        PngFiles.write(target, img, turbo("first", ""));
        byte[] first = Files.readAllBytes(target);

        // Replacing works and leaves no temporary file.
        PngFiles.write(target, img, turbo("second", ""));
        assertEquals("second", PngFiles.readMetadata(target).prompt());
        assertEquals(List.of("out.png"), names(tmp));

        // A failure while encoding leaves the existing image untouched and no temporary file.
        Files.write(target, first);
        assertThrows(IllegalArgumentException.class, () -> PngFiles.write(target, img, Map.of("bad\u0001key", "v")));
        assertArrayEquals(first, Files.readAllBytes(target));
        assertEquals(List.of("out.png"), names(tmp));

        // A failure at the rename (the target is a non-empty folder) removes the finished temporary file.
        Path folder = Files.createDirectory(tmp.resolve("taken.png"));
        Files.writeString(folder.resolve("keep.txt"), "x");
        IOException e = assertThrows(IOException.class, () -> PngFiles.write(folder, img, turbo("x", "")));
        assertTrue(e.getMessage().contains("taken.png"), e.getMessage());
        assertEquals(List.of("out.png", "taken.png"), names(tmp));

        // A missing folder is named.
        Path nowhere = tmp.resolve("missing/out.png");
        var missing = assertThrows(NoSuchFileException.class, () -> PngFiles.write(nowhere, img, turbo("x", "")));
        assertTrue(missing.getMessage().contains("missing"), missing.getMessage());
    }

    @Test
    void metadataJsonRoundTripAndErrors() {
        GenerationMetadata m = new GenerationMetadata("p", null, 6, "Euler", 4.0, 1.0, 0.15, 1234567890123L, 64, 48,
                "Z-Image", null, 6.0, 0.6, 512, "bf16 weights, float32 compute", "zimage4j 0.1.0", Map.of("A", "b"));
        assertEquals(m, GenerationMetadata.fromJson(m.toJson()));
        assertEquals("", m.negativePrompt());
        var e = assertThrows(IllegalArgumentException.class, () -> GenerationMetadata.fromJson("{\"format\":\"other\"}"));
        assertTrue(e.getMessage().contains("other"), e.getMessage());
        String noSteps = m.toJson().replace("\"num_inference_steps\":6", "\"num_inference_steps\":\"6\"");
        e = assertThrows(IllegalArgumentException.class, () -> GenerationMetadata.fromJson(noSteps));
        assertTrue(e.getMessage().contains("num_inference_steps"), e.getMessage());
    }

    /** keyword → {chunk type, text}, read with javax.imageio's native PNG metadata tree only. */
    private static Map<String, String[]> chunks(Path png) throws IOException {
        Map<String, String[]> out = new LinkedHashMap<>();
        try (ImageInputStream in = ImageIO.createImageInputStream(png.toFile())) {
            ImageReader reader = ImageIO.getImageReaders(in).next();
            reader.setInput(in);
            Node root = reader.getImageMetadata(0).getAsTree("javax_imageio_png_1.0");
            for (Node chunk = root.getFirstChild(); chunk != null; chunk = chunk.getNextSibling()) {
                String type = chunk.getNodeName();
                if (!type.equals("tEXt") && !type.equals("iTXt")) {
                    continue;
                }
                for (Node entry = chunk.getFirstChild(); entry != null; entry = entry.getNextSibling()) {
                    String key = entry.getAttributes().getNamedItem("keyword").getNodeValue();
                    String text = entry.getAttributes().getNamedItem(type.equals("tEXt") ? "value" : "text").getNodeValue();
                    out.put(key, new String[]{type, text});
                }
            }
            reader.dispose();
        }
        return out;
    }

    static UInt8Image gradient(int w, int h) {
        byte[] px = new byte[w * h * 3];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                px[(y * w + x) * 3] = (byte) (x * 255 / w);
                px[(y * w + x) * 3 + 1] = (byte) (y * 255 / h);
                px[(y * w + x) * 3 + 2] = (byte) ((x * 7 + y * 13) & 0xFF);
            }
        }
        return new UInt8Image(w, h, 3, px);
    }

    private static List<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
