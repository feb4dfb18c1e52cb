package io.github.zimage4j.server;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * The LoRA files a request may name: the {@code .safetensors} files directly in the operator's LoRA folder,
 * by file name. A request names one of them; it never gives a path, so nothing outside the folder is read.
 */
final class LoraCatalog {

    /** A LoRA a request asked for: its catalog name, its file and the strength. */
    record Choice(String name, Path file, double strength) {
    }

    private final Map<String, Path> files = new TreeMap<>();

    /** @param dir the folder to list (null = no LoRAs) */
    LoraCatalog(Path dir) throws IOException {
        if (dir == null) {
            return;
        }
        if (!Files.isDirectory(dir)) {
            throw new IOException("--lora-dir: " + dir + " is not a folder");
        }
        try (Stream<Path> list = Files.list(dir)) {
            list.filter(p -> Files.isRegularFile(p) && p.getFileName().toString().endsWith(".safetensors"))
                    .forEach(p -> files.put(p.getFileName().toString(), p.toAbsolutePath()));
        }
    }

    List<String> names() {
        return List.copyOf(files.keySet());
    }

    /** Reads {@code loras: [{"path": NAME, "strength": S}]}; every failure is a 400 naming the entry. */
    @SuppressWarnings("unchecked")
    List<Choice> parse(Fields f, String field) {
        List<Object> list = f.list(field);
        List<Choice> out = new java.util.ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            String at = field + "[" + i + "]";
            if (!(list.get(i) instanceof Map<?, ?> m)) {
                throw ApiException.badField(at, "must be an object {\"path\": NAME, \"strength\": S}");
            }
            Fields entry = new Fields((Map<String, Object>) m);
            String name = entry.string("path", null);
            if (name == null) {
                throw ApiException.badField(at + ".path", "is required (one of " + names() + ")");
            }
            Path file = files.get(name);
            if (file == null) {
                throw ApiException.badField(at + ".path", "'" + name + "' is not one of the server's LoRAs " + names());
            }
            Object given = m.get("strength");
            double strength = given == null ? 1.0 : given instanceof Number n ? n.doubleValue() : Double.NaN;
            if (!(strength >= -10 && strength <= 10)) {
                throw ApiException.badField(at + ".strength", "must be a number between -10 and 10, got " + given);
            }
            if (out.stream().anyMatch(c -> c.name().equals(name))) {
                throw ApiException.badField(at + ".path", "'" + name + "' is given twice");
            }
            out.add(new Choice(name, file, strength));
        }
        return out;
    }
}
