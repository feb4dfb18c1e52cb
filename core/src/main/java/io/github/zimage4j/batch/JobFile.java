package io.github.zimage4j.batch;

import io.github.zimage4j.io.Json;
import io.github.zimage4j.pipeline.GenerationRequest;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A batch of requests: JSON Lines, one request object per line with an {@code id} and the
 * {@link RequestJson} fields, optionally preceded by a line {@code {"defaults": {...}}} whose fields every
 * request takes unless it sets them itself (a {@code null} in a request restores the model's default).
 * Blank lines are skipped.
 *
 * <p>The whole file is checked before anything runs: every malformed line, unknown field, bad value,
 * repeated id and pair of ids that would share an output file is reported with its line number at once.
 * A request without a {@code seed} gets one derived from its id, so a re-run (or a retried Spark task)
 * makes the same image.
 */
public final class JobFile {

    /**
     * One request of the batch: its fields (defaults applied, seed set, image paths resolved), checked when
     * the file was read; {@link #request()} builds it, reading its images.
     */
    public record Item(int line, String id, String fileName, Map<String, Object> fields, RequestJson.Images images) {
        public Item {
            fields = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(fields));
        }

        public GenerationRequest request() {
            return RequestJson.toRequest(fields, images);
        }

        /** The fields as one compact JSON object, e.g. to ship the request to another JVM. */
        public String requestJson() {
            return Json.write(fields);
        }

        /** Requests with equal keys have the same prompts and share their text encoding. */
        public List<Object> promptKey() {
            return java.util.Arrays.asList(fields.get("prompt"), fields.get("negative_prompt"), fields.get("max_sequence_length"));
        }
    }

    /** The batch has problems; the message lists them (each with its line). */
    public static final class InvalidJobFileException extends IOException {
        private final List<String> problems;

        InvalidJobFileException(String source, List<String> problems) {
            super(summary(source, problems));
            this.problems = List.copyOf(problems);
        }

        public List<String> problems() {
            return problems;
        }

        private static String summary(String source, List<String> problems) {
            int shown = Math.min(problems.size(), 20);
            StringBuilder sb = new StringBuilder(source + ": " + problems.size() + (problems.size() == 1 ? " problem" : " problems")
                    + ", nothing was run:");
            for (int i = 0; i < shown; i++) {
                sb.append(System.lineSeparator()).append("  ").append(problems.get(i));
            }
            if (problems.size() > shown) {
                sb.append(System.lineSeparator()).append("  … and ").append(problems.size() - shown).append(" more");
            }
            return sb.toString();
        }
    }

    private final String source;
    private final List<Item> items;

    private JobFile(String source, List<Item> items) {
        this.source = source;
        this.items = List.copyOf(items);
    }

    public String source() {
        return source;
    }

    public List<Item> items() {
        return items;
    }

    /** Reads a UTF-8 JSON Lines file; relative image paths are taken from the file's folder. */
    public static JobFile read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new java.nio.file.NoSuchFileException(file.toString(), null, "no such job file");
        }
        Path base = file.toAbsolutePath().getParent();
        try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            return parse(file.toString(), r, p -> base.resolve(p).toString(), RequestJson.Images.LOCAL);
        } catch (java.nio.charset.MalformedInputException e) {
            throw new IOException(file + ": not UTF-8 text", e);
        }
    }

    /** Parses JSON Lines text; {@code source} names it in messages; image paths are local, as given. */
    public static JobFile parse(String source, String text) throws IOException {
        return parse(source, new BufferedReader(new StringReader(text)), p -> p, RequestJson.Images.LOCAL);
    }

    /**
     * Parses JSON Lines.
     *
     * @param resolve turns an image path as written into the path {@code images} reads (relative ones
     *                against the job file's folder)
     */
    public static JobFile parse(String source, BufferedReader lines, java.util.function.UnaryOperator<String> resolve,
                                RequestJson.Images images) throws IOException {
        Checker c = new Checker(source, "line", resolve, images);
        String line;
        int n = 0;
        while ((line = lines.readLine()) != null) {
            n++;
            if (n == 1 && line.startsWith("\uFEFF")) {
                line = line.substring(1);
            }
            if (line.isBlank()) {
                continue;
            }
            Object v;
            try {
                v = Json.parse(line);
            } catch (Json.JsonException e) {
                c.problem(n, "not valid JSON: " + e.getMessage());
                continue;
            }
            c.add(n, v);
        }
        return c.finish();
    }

    /**
     * Requests given as objects (e.g. the rows of a Parquet table, null columns left out); they are
     * numbered from 1 as "row N". A first object {@code {"defaults": {...}}} works as in a JSON Lines file.
     */
    public static JobFile of(String source, List<? extends Map<String, ?>> rows) throws IOException {
        return of(source, rows, p -> p, RequestJson.Images.LOCAL);
    }

    public static JobFile of(String source, List<? extends Map<String, ?>> rows, java.util.function.UnaryOperator<String> resolve,
                             RequestJson.Images images) throws IOException {
        Checker c = new Checker(source, "row", resolve, images);
        for (int i = 0; i < rows.size(); i++) {
            c.add(i + 1, rows.get(i));
        }
        return c.finish();
    }

    /** The seed of a request that names none: the first 32 bits of the SHA-256 of its id. */
    public static long seedFor(String id) {
        byte[] h = sha256(id.getBytes(StandardCharsets.UTF_8));
        return ((h[0] & 0xFFL) << 24) | ((h[1] & 0xFFL) << 16) | ((h[2] & 0xFFL) << 8) | (h[3] & 0xFFL);
    }

    /**
     * The PNG file name of an id: the id itself when it is a safe file name (letters, digits, '.', '_',
     * '-'; not starting with '.' or '-'; at most 120 characters), else the id with every other character
     * replaced by '_', shortened, and followed by 8 hex digits of the id's SHA-256 (so "a/b" and "a?b" stay
     * apart). Always ends in ".png".
     */
    public static String fileName(String id) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < id.length() && sb.length() < 120; i++) {
            char ch = id.charAt(i);
            boolean ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_'
                    || ((ch == '.' || ch == '-') && sb.length() > 0);
            sb.append(ok ? ch : '_');
        }
        String name = sb.toString();
        if (!name.equals(id)) {
            name += "-" + java.util.HexFormat.of().formatHex(sha256(id.getBytes(StandardCharsets.UTF_8)), 0, 4);
        }
        return name + ".png";
    }

    private static byte[] sha256(byte[] data) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(data);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Collects the requests and every problem with its position. */
    private static final class Checker {
        private final String source;
        private final String unit;
        private final java.util.function.UnaryOperator<String> resolve;
        private final RequestJson.Images images;
        private final List<String> problems = new ArrayList<>();
        private final List<Item> items = new ArrayList<>();
        private final Map<String, Integer> idLines = new HashMap<>();
        /** Lower-cased file name → line, since macOS and Windows file systems ignore case. */
        private final Map<String, Item> fileNames = new HashMap<>();
        private Map<String, Object> defaults = Map.of();
        private boolean seenDefaults;
        private boolean seenRequest;

        Checker(String source, String unit, java.util.function.UnaryOperator<String> resolve, RequestJson.Images images) {
            this.source = source;
            this.unit = unit;
            this.resolve = resolve;
            this.images = images;
        }

        void problem(int n, String message) {
            problems.add(unit + " " + n + ": " + message);
        }

        /** A LoRA entry with its path resolved like an image path. */
        private static Map<Object, Object> resolvedPath(Map<?, ?> lora, String path) {
            Map<Object, Object> copy = new LinkedHashMap<>(lora);
            copy.put("path", path);
            return copy;
        }

        @SuppressWarnings("unchecked")
        void add(int n, Object value) {
            if (!(value instanceof Map<?, ?> raw)) {
                problem(n, "expected a JSON object, got " + (value instanceof List ? "an array" : String.valueOf(value)));
                return;
            }
            Map<String, Object> obj = (Map<String, Object>) raw;
            if (obj.containsKey("defaults")) {
                defaults(n, obj);
                return;
            }
            seenRequest = true;
            Object idValue = obj.get("id");
            String id;
            if (idValue instanceof String s && !s.isBlank()) {
                id = s;
            } else if (idValue instanceof Long l) {
                id = Long.toString(l);
            } else {
                problem(n, idValue == null ? "no \"id\" (every request needs a unique id: it names the file and marks the request done)"
                        : "\"id\" must be a non-empty string or a whole number, got " + idValue);
                return;
            }
            List<String> unknown = obj.keySet().stream().filter(k -> !k.equals("id") && !RequestJson.FIELDS.contains(k)).toList();
            if (unknown.size() > 1) {
                problem(n, "unknown fields " + unknown + " (request fields: id, " + String.join(", ", RequestJson.FIELDS) + ")");
                return;
            }
            Map<String, Object> fields = new LinkedHashMap<>(defaults);
            obj.forEach((k, v) -> {
                if (!k.equals("id")) {
                    fields.put(k, v);
                }
            });
            for (String f : RequestJson.IMAGE_FIELDS) {
                if (fields.get(f) instanceof String path) {
                    fields.put(f, resolve.apply(path));
                }
            }
            if (fields.get("loras") instanceof List<?> loras) {
                fields.put("loras", loras.stream().map(l -> l instanceof Map<?, ?> m && m.get("path") instanceof String path
                        ? resolvedPath(m, resolve.apply(path)) : l).toList());
            }
            if (fields.get("seed") == null) {
                fields.put("seed", seedFor(id));
            }
            try {
                RequestJson.toRequest(fields, images);
            } catch (RequestJson.InvalidRequestException e) {
                boolean fromDefaults = e.field() != null && !obj.containsKey(e.field().replaceFirst("\\[.*", ""));
                problem(n, (fromDefaults ? "(from the defaults) " : "") + e.getMessage());
                return;
            }
            Integer previous = idLines.putIfAbsent(id, n);
            if (previous != null) {
                problem(n, "id \"" + id + "\" is already used on " + unit + " " + previous);
                return;
            }
            Item item = new Item(n, id, fileName(id), fields, images);
            Item clash = fileNames.putIfAbsent(item.fileName().toLowerCase(Locale.ROOT), item);
            if (clash != null) {
                problem(n, "id \"" + id + "\" and id \"" + clash.id() + "\" (" + unit + " " + clash.line()
                        + ") would both be written to " + clash.fileName() + " (file names ignore case); rename one");
                return;
            }
            items.add(item);
        }

        @SuppressWarnings("unchecked")
        private void defaults(int n, Map<String, Object> obj) {
            if (obj.size() != 1) {
                problem(n, "a defaults line holds only {\"defaults\": {...}}, found also " + obj.keySet());
            } else if (seenRequest || seenDefaults) {
                problem(n, "\"defaults\" must come first, before any request");
            } else if (!(obj.get("defaults") instanceof Map<?, ?> d)) {
                problem(n, "\"defaults\" must be an object");
            } else {
                Map<String, Object> fields = (Map<String, Object>) d;
                List<String> unknown = fields.keySet().stream().filter(k -> !RequestJson.FIELDS.contains(k)).toList();
                if (!unknown.isEmpty()) {
                    problem(n, "unknown field" + (unknown.size() > 1 ? "s " : " ") + unknown + " in the defaults (request fields: "
                            + String.join(", ", RequestJson.FIELDS) + ")");
                }
                defaults = new LinkedHashMap<>(fields);
                defaults.keySet().removeAll(unknown);
                seenDefaults = true;
            }
        }

        JobFile finish() throws IOException {
            if (!problems.isEmpty()) {
                throw new InvalidJobFileException(source, problems);
            }
            if (items.isEmpty()) {
                throw new InvalidJobFileException(source, List.of("no requests"));
            }
            return new JobFile(source, items);
        }
    }
}
