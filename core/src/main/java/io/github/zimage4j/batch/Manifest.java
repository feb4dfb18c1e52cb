package io.github.zimage4j.batch;

import io.github.zimage4j.io.Json;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * A batch's {@code manifest.jsonl}: one {@link ManifestRecord} per line, appended as each request ends; for
 * an id the last record counts (a failed request that later succeeds).
 *
 * <p>Each record is one write of one whole line followed by a sync, so a crash leaves at most a torn last
 * line without its newline. Opening reports such a line and cuts it off, so the next record starts on a
 * line of its own; any other unreadable line is an error. The file is locked while open: two batch runs
 * cannot write one folder at once.
 */
public final class Manifest implements Closeable {

    public static final String FILE_NAME = "manifest.jsonl";

    private final Path file;
    private final FileChannel channel;
    private final FileLock lock;
    private final Map<String, ManifestRecord> latest;

    private Manifest(Path file, FileChannel channel, FileLock lock, Map<String, ManifestRecord> latest) {
        this.file = file;
        this.channel = channel;
        this.lock = lock;
        this.latest = latest;
    }

    /**
     * Opens (or creates) the manifest for appending and reads what it holds.
     *
     * @param warnings receives a note about a torn last line (which is removed)
     * @throws IOException when another process holds it, or a line before the last is not a record
     */
    public static Manifest open(Path file, Consumer<String> warnings) throws IOException {
        FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
        try {
            FileLock lock;
            try {
                lock = ch.tryLock();
            } catch (OverlappingFileLockException e) {
                lock = null;
            }
            if (lock == null) {
                throw new IOException(file + " is in use by another batch run (one run per output folder at a time)");
            }
            byte[] content = new byte[Math.toIntExact(ch.size())];
            ByteBuffer buf = ByteBuffer.wrap(content);
            while (buf.hasRemaining() && ch.read(buf, buf.position()) >= 0) {
                // read fully
            }
            Map<String, ManifestRecord> latest = new LinkedHashMap<>();
            int complete = records(file, content, r -> {
                latest.remove(r.id());
                latest.put(r.id(), r);
            });
            if (complete < content.length) {
                // No newline at the end: the record was being written when the process stopped.
                warnings.accept(file + ": the last line is incomplete (a write was interrupted); removed, its request runs again");
                ch.truncate(complete);
            }
            ch.position(ch.size());
            return new Manifest(file, ch, lock, latest);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    /** Parses the newline-terminated lines of {@code content}; returns the length they cover. */
    private static int records(Path file, byte[] content, Consumer<ManifestRecord> sink) throws IOException {
        int start = 0;
        int lineNo = 0;
        while (start < content.length) {
            lineNo++;
            int end = start;
            while (end < content.length && content[end] != '\n') {
                end++;
            }
            if (end == content.length) {
                break;
            }
            String line = new String(content, start, end - start, StandardCharsets.UTF_8);
            if (!line.isBlank()) {
                sink.accept(parseLine(file, lineNo, line));
            }
            start = end + 1;
        }
        return start;
    }

    private static ManifestRecord parseLine(Path file, int lineNo, String line) throws IOException {
        try {
            Object v = Json.parse(line);
            if (!(v instanceof Map<?, ?> m)) {
                throw new IllegalArgumentException("not a JSON object");
            }
            @SuppressWarnings("unchecked")
            Map<String, ?> fields = (Map<String, ?>) m;
            return ManifestRecord.fromJson(fields);
        } catch (IllegalArgumentException e) { // Json.JsonException is one
            throw new IOException(file + ": line " + lineNo + " is not a manifest record (" + e.getMessage()
                    + "); repair or delete that line", e);
        }
    }

    public Path file() {
        return file;
    }

    /** The last record of every id, in the order the ids first finished. */
    public Map<String, ManifestRecord> latest() {
        return Collections.unmodifiableMap(latest);
    }

    /** Appends one record as one line and syncs it to disk. */
    public synchronized void append(ManifestRecord record) throws IOException {
        ByteBuffer line = ByteBuffer.wrap((record.toJson() + "\n").getBytes(StandardCharsets.UTF_8));
        while (line.hasRemaining()) {
            channel.write(line);
        }
        channel.force(false);
        latest.remove(record.id());
        latest.put(record.id(), record);
    }

    /** Every complete record of a manifest file, in order (a torn last line is left out). */
    public static List<ManifestRecord> readAll(Path file) throws IOException {
        List<ManifestRecord> out = new ArrayList<>();
        records(file, java.nio.file.Files.readAllBytes(file), out::add);
        return out;
    }

    @Override
    public void close() throws IOException {
        try {
            lock.release();
        } finally {
            channel.close();
        }
    }
}
