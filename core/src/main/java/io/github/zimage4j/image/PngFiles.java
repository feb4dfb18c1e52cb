package io.github.zimage4j.image;

import org.w3c.dom.NamedNodeMap;
import org.w3c.dom.Node;

import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.ImageWriter;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.metadata.IIOMetadataNode;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageOutputStream;
import java.awt.image.BufferedImage;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

/**
 * PNG output with the generation settings embedded, and reading those text chunks back.
 *
 * <p>Writing is atomic: the PNG goes to a hidden temporary file in the target folder, is flushed to disk,
 * and is renamed over the target. A reader never sees a half-written image, a failed write leaves the
 * target as it was, and the temporary file is removed on every failure.
 *
 * <p>Text chunks: {@code parameters} holds the A1111 infotext, written as A1111 (via Pillow) writes it, a
 * Latin-1 {@code tEXt} chunk when the text fits Latin-1 and an uncompressed UTF-8 {@code iTXt} chunk
 * otherwise (Chinese prompts). {@code zimage4j} holds {@link GenerationMetadata#toJson()} as UTF-8 iTXt.
 */
public final class PngFiles {

    /** The text chunk A1111, Forge, ComfyUI and Civitai read the settings from. */
    public static final String PARAMETERS_KEY = "parameters";
    /** The text chunk holding the JSON reproduction record. */
    public static final String METADATA_KEY = "zimage4j";

    private static final String NATIVE_FORMAT = "javax_imageio_png_1.0";

    private PngFiles() {
    }

    /** Writes {@code image} with {@code metadata} to {@code target} atomically (replacing an existing file). */
    public static void write(Path target, UInt8Image image, GenerationMetadata metadata) throws IOException {
        Map<String, String> text = new LinkedHashMap<>();
        text.put(PARAMETERS_KEY, metadata.toA1111Parameters());
        text.put(METADATA_KEY, metadata.toJson());
        write(target, image, text);
    }

    /** The PNG bytes of {@code image} with {@code metadata}, as {@link #write(Path, UInt8Image, GenerationMetadata)} writes them. */
    public static byte[] toBytes(UInt8Image image, GenerationMetadata metadata) {
        Map<String, String> text = new LinkedHashMap<>();
        text.put(PARAMETERS_KEY, metadata.toA1111Parameters());
        text.put(METADATA_KEY, metadata.toJson());
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        try {
            encode(image, text, out);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e); // in memory: cannot happen
        }
        return out.toByteArray();
    }

    /** Writes {@code image} with the given text chunks (keyword → text) to {@code target} atomically. */
    public static void write(Path target, UInt8Image image, Map<String, String> text) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new NoSuchFileException(target.toString(), null, "the folder " + dir + " does not exist");
        }
        Path tmp = dir.resolve("." + target.getFileName() + "." + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt()) + ".tmp");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                OutputStream out = new BufferedOutputStream(Channels.newOutputStream(ch));
                encode(image, text, out);
                out.flush();
                ch.force(true);
            }
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException | RuntimeException | Error e) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException cleanup) {
                e.addSuppressed(cleanup);
            }
            if (e instanceof IOException io && !String.valueOf(io.getMessage()).contains(target.toString())) {
                throw new IOException("cannot write " + target + ": " + io.getMessage(), io);
            }
            throw e;
        }
    }

    private static void encode(UInt8Image image, Map<String, String> text, OutputStream out) throws IOException {
        BufferedImage img = toBufferedImage(image);
        ImageWriter writer = ImageIO.getImageWritersByFormatName("png").next();
        try (MemoryCacheImageOutputStream ios = new MemoryCacheImageOutputStream(out)) {
            ImageTypeSpecifier type = ImageTypeSpecifier.createFromRenderedImage(img);
            IIOMetadata meta = writer.getDefaultImageMetadata(type, writer.getDefaultWriteParam());
            meta.mergeTree(NATIVE_FORMAT, textTree(text));
            writer.setOutput(ios);
            writer.write(null, new IIOImage(img, null, meta), writer.getDefaultWriteParam());
        } finally {
            writer.dispose();
        }
    }

    private static IIOMetadataNode textTree(Map<String, String> text) {
        IIOMetadataNode root = new IIOMetadataNode(NATIVE_FORMAT);
        IIOMetadataNode latin1 = new IIOMetadataNode("tEXt");
        IIOMetadataNode utf8 = new IIOMetadataNode("iTXt");
        for (Map.Entry<String, String> e : text.entrySet()) {
            checkKeyword(e.getKey());
            // A1111/Pillow: tEXt when Latin-1 can hold the value; the JSON record always goes as UTF-8 iTXt.
            if (!e.getKey().equals(METADATA_KEY) && StandardCharsets.ISO_8859_1.newEncoder().canEncode(e.getValue())) {
                IIOMetadataNode entry = new IIOMetadataNode("tEXtEntry");
                entry.setAttribute("keyword", e.getKey());
                entry.setAttribute("value", e.getValue());
                latin1.appendChild(entry);
            } else {
                IIOMetadataNode entry = new IIOMetadataNode("iTXtEntry");
                entry.setAttribute("keyword", e.getKey());
                entry.setAttribute("compressionFlag", "FALSE");
                entry.setAttribute("compressionMethod", "0");
                entry.setAttribute("languageTag", "");
                entry.setAttribute("translatedKeyword", "");
                entry.setAttribute("text", e.getValue());
                utf8.appendChild(entry);
            }
        }
        if (latin1.hasChildNodes()) {
            root.appendChild(latin1);
        }
        if (utf8.hasChildNodes()) {
            root.appendChild(utf8);
        }
        return root;
    }

    private static void checkKeyword(String keyword) {
        if (keyword.isEmpty() || keyword.length() > 79 || keyword.startsWith(" ") || keyword.endsWith(" ")
                || !keyword.chars().allMatch(c -> c >= 32 && c <= 255 && c != 127)) {
            throw new IllegalArgumentException("\"" + keyword + "\" is not a valid PNG text keyword"
                    + " (1-79 printable Latin-1 characters, no leading or trailing space)");
        }
    }

    private static BufferedImage toBufferedImage(UInt8Image image) {
        int w = image.width();
        int h = image.height();
        BufferedImage img = new BufferedImage(w, h, image.channels() == 3 ? BufferedImage.TYPE_3BYTE_BGR : BufferedImage.TYPE_BYTE_GRAY);
        int[] row = new int[w * image.channels()];
        byte[] px = image.pixels();
        for (int y = 0; y < h; y++) {
            for (int i = 0; i < row.length; i++) {
                row[i] = px[y * row.length + i] & 0xFF;
            }
            img.getRaster().setPixels(0, y, w, 1, row);
        }
        return img;
    }

    /**
     * Every text chunk of the PNG at {@code file} (tEXt, zTXt, iTXt), keyword → text, read through the
     * standard {@code javax_imageio_png_1.0} metadata tree.
     */
    public static Map<String, String> readText(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new NoSuchFileException(file.toString(), null, "no such PNG file");
        }
        try (ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
            Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
            if (!readers.hasNext()) {
                throw new IOException(file + ": not a PNG file");
            }
            ImageReader reader = readers.next();
            try {
                reader.setInput(in, true, false);
                if (!reader.getFormatName().equalsIgnoreCase("png")) {
                    throw new IOException(file + ": a " + reader.getFormatName() + " file, not PNG");
                }
                Node root = reader.getImageMetadata(0).getAsTree(NATIVE_FORMAT);
                Map<String, String> out = new LinkedHashMap<>();
                for (Node chunk = root.getFirstChild(); chunk != null; chunk = chunk.getNextSibling()) {
                    String valueAttr = switch (chunk.getNodeName()) {
                        case "tEXt", "zTXt" -> "value";
                        case "iTXt" -> "text";
                        default -> null;
                    };
                    if (valueAttr == null) {
                        continue;
                    }
                    for (Node entry = chunk.getFirstChild(); entry != null; entry = entry.getNextSibling()) {
                        NamedNodeMap a = entry.getAttributes();
                        out.put(a.getNamedItem("keyword").getNodeValue(), a.getNamedItem(valueAttr).getNodeValue());
                    }
                }
                return out;
            } finally {
                reader.dispose();
            }
        }
    }

    /** The {@link GenerationMetadata} stored in a PNG written by {@link #write}, or null when it has none. */
    public static GenerationMetadata readMetadata(Path file) throws IOException {
        String json = readText(file).get(METADATA_KEY);
        return json == null ? null : GenerationMetadata.fromJson(json);
    }
}
