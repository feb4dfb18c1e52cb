package io.github.zimage4j.io;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * The one way a checkpoint is opened: a safetensors file, a sharded checkpoint's
 * {@code *.safetensors.index.json}, a GGUF file, or a folder holding exactly one of them. The container is
 * recognized by its first bytes, not its name, so a misnamed file still opens and a file that is none of
 * these fails with a message saying what it looks like.
 */
public final class Checkpoints {

    private Checkpoints() {
    }

    /** The kinds of container. */
    public enum Container {
        SAFETENSORS, SHARDED_SAFETENSORS, GGUF
    }

    /**
     * Opens the checkpoint at {@code path}; the caller closes the returned source. ComfyUI's scaled fp8
     * weights come out as scaled weights ({@link ScaledWeights}).
     */
    public static TensorSource open(Path path) throws IOException {
        Path file = resolve(path);
        TensorSource source = switch (container(file)) {
            case GGUF -> Gguf.open(file);
            case SAFETENSORS -> SafeTensors.open(file);
            case SHARDED_SAFETENSORS -> SafeTensors.openSharded(file);
        };
        try {
            return ScaledWeights.of(source);
        } catch (IOException | RuntimeException e) {
            source.close();
            throw e;
        }
    }

    /** The file a path stands for: itself, or the one checkpoint in a folder. */
    public static Path resolve(Path path) throws IOException {
        if (!Files.exists(path)) {
            throw new NoSuchFileException(path.toString(), null, "no such file or folder");
        }
        if (!Files.isDirectory(path)) {
            return path;
        }
        List<Path> ggufs;
        try (Stream<Path> s = Files.list(path)) {
            ggufs = s.filter(p -> p.getFileName().toString().endsWith(".gguf")).sorted().toList();
        }
        boolean safetensors;
        try (Stream<Path> s = Files.list(path)) {
            safetensors = s.anyMatch(p -> p.getFileName().toString().endsWith(".safetensors")
                    || p.getFileName().toString().endsWith(".safetensors.index.json"));
        }
        if (ggufs.size() == 1 && !safetensors) {
            return ggufs.get(0);
        }
        if (ggufs.size() > 1 && !safetensors) {
            throw new ModelFileException(path + ": several GGUF files " + ggufs.stream().map(p -> p.getFileName().toString())
                    .toList() + "; name one of them");
        }
        return SafeTensors.findCheckpoint(path);
    }

    /** What kind of container a file is, from its first bytes (an index is recognized as JSON). */
    public static Container container(Path file) throws IOException {
        byte[] head = new byte[16];
        int n;
        try (InputStream in = Files.newInputStream(file)) {
            n = in.readNBytes(head, 0, head.length);
        }
        ByteBuffer bb = ByteBuffer.wrap(head).order(ByteOrder.LITTLE_ENDIAN);
        if (n >= 4 && bb.getInt(0) == Gguf.MAGIC) {
            return Container.GGUF;
        }
        if (n >= 9 && head[8] == '{' && bb.getLong(0) > 1 && bb.getLong(0) <= SafeTensors.MAX_HEADER_BYTES) {
            return Container.SAFETENSORS;
        }
        int i = 0;
        while (i < n && Character.isWhitespace(head[i])) {
            i++;
        }
        if (i < n && head[i] == '{') {
            return Container.SHARDED_SAFETENSORS;
        }
        throw new ModelFileException(file + ": not a checkpoint: neither safetensors (8-byte header length and a JSON"
                + " header), a safetensors index (JSON) nor GGUF (\"GGUF\" magic); first bytes "
                + java.util.HexFormat.ofDelimiter(" ").formatHex(head, 0, Math.min(n, 8)));
    }
}
