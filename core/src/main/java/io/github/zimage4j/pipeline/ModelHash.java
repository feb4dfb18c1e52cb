package io.github.zimage4j.pipeline;

import io.github.zimage4j.io.Json;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The A1111-style model hash written into images: the first 10 hex digits of the SHA-256 of the
 * transformer's weight file (several shards: of their bytes in name order). Hashing 12 GB takes seconds,
 * so results are cached by path, size and modification time in
 * {@code $XDG_CACHE_HOME/zimage4j/model-hashes.json}.
 */
final class ModelHash {

    private ModelHash() {
    }

    static String of(Path weights) throws IOException {
        List<Path> files = new ArrayList<>();
        if (Files.isDirectory(weights)) {
            try (Stream<Path> s = Files.list(weights)) {
                s.filter(p -> p.getFileName().toString().endsWith(".safetensors")).sorted().forEach(files::add);
            }
        } else if (weights.getFileName().toString().endsWith(".index.json")) {
            try (Stream<Path> s = Files.list(weights.toAbsolutePath().getParent())) {
                s.filter(p -> p.getFileName().toString().endsWith(".safetensors")).sorted().forEach(files::add);
            }
        } else {
            files.add(weights);
        }
        StringBuilder key = new StringBuilder();
        for (Path f : files) {
            key.append(f.toAbsolutePath()).append('|').append(Files.size(f)).append('|')
                    .append(Files.getLastModifiedTime(f).toMillis()).append(';');
        }
        Path cache = cacheFile();
        Map<String, Object> known = readCache(cache);
        if (known.get(key.toString()) instanceof String h) {
            return h;
        }
        String hash = sha256(files).substring(0, 10);
        known.put(key.toString(), hash);
        writeCache(cache, known);
        return hash;
    }

    private static String sha256(List<Path> files) throws IOException {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 20];
            for (Path f : files) {
                try (InputStream in = Files.newInputStream(f)) {
                    for (int n; (n = in.read(buf)) > 0; ) {
                        md.update(buf, 0, n);
                    }
                }
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Path cacheFile() {
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("zimage4j").resolve("model-hashes.json");
    }

    private static Map<String, Object> readCache(Path cache) {
        try {
            return new LinkedHashMap<>(Json.parseObject(cache));
        } catch (IOException | RuntimeException e) {
            return new LinkedHashMap<>(); // absent or damaged: recompute
        }
    }

    private static void writeCache(Path cache, Map<String, Object> known) {
        try {
            Files.createDirectories(cache.getParent());
            Path tmp = Files.createTempFile(cache.getParent(), "model-hashes", ".partial");
            Files.writeString(tmp, Json.write(known));
            Files.move(tmp, cache, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | RuntimeException e) {
            // A cache that cannot be written only costs a rehash next time.
        }
    }
}
