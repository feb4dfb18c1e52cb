package io.github.zimage4j.io;

import io.github.zimage4j.tensor.StoredTensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * Memory-mapped safetensors files: a single {@code .safetensors} file, a sharded checkpoint
 * ({@code *.safetensors.index.json} plus its shards) or a folder holding either.
 *
 * <p>Nothing is copied: every tensor is a slice of a read-only mapping, so a 25 GB checkpoint costs no
 * heap. Headers are validated strictly; every error names the file and, where there is one, the tensor.
 */
public final class SafeTensors implements TensorSource {

    /** Headers above this size are refused as corrupt (real ones are well under 1 MB). */
    static final long MAX_HEADER_BYTES = 100L << 20;

    private final String description;
    private final Arena arena;
    private final List<MemorySegment> mappings;
    private final Map<String, StoredTensor> tensors;
    private final Map<String, String> metadata;

    private SafeTensors(String description, Arena arena, List<MemorySegment> mappings, Map<String, StoredTensor> tensors,
                        Map<String, String> metadata) {
        this.description = description;
        this.arena = arena;
        this.mappings = List.copyOf(mappings);
        this.tensors = Collections.unmodifiableMap(tensors);
        this.metadata = Collections.unmodifiableMap(metadata);
    }

    /**
     * Opens a {@code .safetensors} file, a {@code .safetensors.index.json}, or a folder that holds exactly
     * one checkpoint (either kind).
     */
    public static SafeTensors open(Path path) throws IOException {
        if (Files.isDirectory(path)) {
            return open(findCheckpoint(path));
        }
        if (!Files.exists(path)) {
            throw new NoSuchFileException(path.toString(), null, "no such file");
        }
        if (path.getFileName().toString().endsWith(".index.json")) {
            return openSharded(path);
        }
        Arena arena = Arena.ofShared();
        try {
            Map<String, String> meta = new LinkedHashMap<>();
            List<MemorySegment> mappings = new ArrayList<>();
            Map<String, StoredTensor> map = mapFile(path, arena, meta, mappings);
            return new SafeTensors(path.toString(), arena, mappings, map, meta);
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** The single checkpoint in a folder: its index if it has one, else its only safetensors file. */
    static Path findCheckpoint(Path dir) throws IOException {
        List<Path> indexes;
        List<Path> files;
        try (Stream<Path> s = Files.list(dir)) {
            List<Path> all = s.sorted().toList();
            indexes = all.stream().filter(p -> p.getFileName().toString().endsWith(".safetensors.index.json")).toList();
            files = all.stream().filter(p -> p.getFileName().toString().endsWith(".safetensors")).toList();
        }
        if (indexes.size() == 1) {
            return indexes.get(0);
        }
        if (indexes.size() > 1) {
            throw new ModelFileException(dir + ": several checkpoint indexes " + names(indexes) + "; name one of them");
        }
        if (files.size() == 1) {
            return files.get(0);
        }
        if (files.isEmpty()) {
            throw new ModelFileException(dir + ": no .safetensors file in this folder");
        }
        throw new ModelFileException(dir + ": several .safetensors files " + names(files)
                + " and no .safetensors.index.json to say how they belong together; name one file");
    }

    private static List<String> names(List<Path> ps) {
        return ps.stream().map(p -> p.getFileName().toString()).toList();
    }

    static SafeTensors openSharded(Path index) throws IOException {
        Map<String, Object> json = Json.parseObject(index);
        if (!(json.get("weight_map") instanceof Map<?, ?> weightMap)) {
            throw new ModelFileException(index + ": no \"weight_map\" object");
        }
        Map<String, List<String>> byShard = new TreeMap<>();
        for (Map.Entry<?, ?> e : weightMap.entrySet()) {
            if (!(e.getValue() instanceof String shard)) {
                throw new ModelFileException(index + ": weight_map entry '" + e.getKey() + "' is not a file name");
            }
            byShard.computeIfAbsent(shard, k -> new ArrayList<>()).add((String) e.getKey());
        }
        Path dir = index.toAbsolutePath().getParent();
        List<String> missing = byShard.keySet().stream().filter(s -> !Files.isRegularFile(dir.resolve(s))).toList();
        if (!missing.isEmpty()) {
            throw new ModelFileException(index + ": shard file(s) missing from " + dir + ": " + missing);
        }
        Arena arena = Arena.ofShared();
        try {
            Map<String, StoredTensor> all = new LinkedHashMap<>();
            Map<String, String> meta = new LinkedHashMap<>();
            List<MemorySegment> mappings = new ArrayList<>();
            for (Map.Entry<String, List<String>> shard : byShard.entrySet()) {
                Path file = dir.resolve(shard.getKey());
                Map<String, StoredTensor> inShard = mapFile(file, arena, meta, mappings);
                for (String name : shard.getValue()) {
                    if (!inShard.containsKey(name)) {
                        throw new ModelFileException(index + ": tensor '" + name + "' is mapped to " + file.getFileName()
                                + ", which does not contain it");
                    }
                }
                for (Map.Entry<String, StoredTensor> t : inShard.entrySet()) {
                    StoredTensor prev = all.put(t.getKey(), t.getValue());
                    if (prev != null) {
                        throw new ModelFileException("tensor '" + t.getKey() + "' is in two shards: " + prev.file()
                                + " and " + file);
                    }
                    if (!weightMap.containsKey(t.getKey())) {
                        throw new ModelFileException(index + ": tensor '" + t.getKey() + "' in " + file.getFileName()
                                + " is not listed in the weight_map");
                    }
                }
            }
            return new SafeTensors(index.toString(), arena, mappings, all, meta);
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** Maps one file, validates its header and returns its tensors in file order. */
    private static Map<String, StoredTensor> mapFile(Path file, Arena arena, Map<String, String> metaOut,
                                                     List<MemorySegment> mappings) throws IOException {
        MemorySegment seg;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                throw new ModelFileException(file + ": " + size + " bytes, too short for a safetensors file (needs an 8-byte header length)");
            }
            seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        }
        mappings.add(seg);
        long size = seg.byteSize();
        long headerLen = seg.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (headerLen < 2 || headerLen > MAX_HEADER_BYTES) {
            throw new ModelFileException(file + ": header length " + headerLen + " is not plausible (not a safetensors file?)");
        }
        if (8 + headerLen > size) {
            throw new ModelFileException(file + ": header length " + headerLen + " runs past the end of the file ("
                    + size + " bytes): truncated or not a safetensors file");
        }
        byte[] hb = seg.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE);
        String headerText;
        try {
            headerText = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(java.nio.ByteBuffer.wrap(hb)).toString();
        } catch (CharacterCodingException e) {
            throw new ModelFileException(file + ": header is not valid UTF-8");
        }
        Object parsed;
        try {
            parsed = Json.parse(headerText);
        } catch (Json.DuplicateKeyException e) {
            throw new ModelFileException(file + ": tensor '" + e.key() + "' is named twice in the header");
        } catch (Json.JsonException e) {
            throw new ModelFileException(file + ": header is not valid JSON: " + e.getMessage());
        }
        if (!(parsed instanceof Map<?, ?> header)) {
            throw new ModelFileException(file + ": header is not a JSON object");
        }
        long dataStart = 8 + headerLen;
        long dataSize = size - dataStart;
        record Entry(String name, DType dtype, long[] shape, long begin, long end) {
        }
        List<Entry> entries = new ArrayList<>();
        for (Map.Entry<?, ?> e : header.entrySet()) {
            String name = (String) e.getKey();
            if (name.equals("__metadata__")) {
                if (e.getValue() instanceof Map<?, ?> m) {
                    for (Map.Entry<?, ?> me : m.entrySet()) {
                        metaOut.put(String.valueOf(me.getKey()), String.valueOf(me.getValue()));
                    }
                    continue;
                }
                throw new ModelFileException(file + ": __metadata__ is not an object");
            }
            String where = file + ": tensor '" + name + "'";
            if (!(e.getValue() instanceof Map<?, ?> info)) {
                throw new ModelFileException(where + ": header entry is not an object");
            }
            if (!(info.get("dtype") instanceof String dtypeName)) {
                throw new ModelFileException(where + ": no dtype");
            }
            DType dtype = DType.fromSafetensors(dtypeName);
            if (dtype == null) {
                throw new ModelFileException(where + ": unknown dtype \"" + dtypeName + "\" (known: "
                        + Arrays.stream(DType.values()).map(DType::safetensorsName).toList() + ")");
            }
            long[] shape = longList(info.get("shape"), where, "shape");
            for (long d : shape) {
                if (d < 0) {
                    throw new ModelFileException(where + ": negative dimension in shape " + Arrays.toString(shape));
                }
            }
            long[] offsets = longList(info.get("data_offsets"), where, "data_offsets");
            if (offsets.length != 2) {
                throw new ModelFileException(where + ": data_offsets must be [begin, end], found " + Arrays.toString(offsets));
            }
            long begin = offsets[0];
            long end = offsets[1];
            if (begin < 0 || end < begin) {
                throw new ModelFileException(where + ": data_offsets " + Arrays.toString(offsets) + " are not an ordered range");
            }
            if (end > dataSize) {
                throw new ModelFileException(where + ": data_offsets " + Arrays.toString(offsets)
                        + " lie outside the data area of " + dataSize + " bytes (file truncated?)");
            }
            long numel;
            try {
                numel = StoredTensor.numel(shape);
            } catch (ArithmeticException overflow) {
                throw new ModelFileException(where + ": shape " + Arrays.toString(shape) + " overflows");
            }
            long need = dtype.byteSize(numel);
            if (end - begin != need) {
                throw new ModelFileException(where + ": holds " + (end - begin) + " bytes but shape "
                        + Arrays.toString(shape) + " of " + dtype + " needs " + need);
            }
            entries.add(new Entry(name, dtype, shape, begin, end));
        }
        List<Entry> byOffset = new ArrayList<>(entries);
        byOffset.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        for (int i = 1; i < byOffset.size(); i++) {
            Entry a = byOffset.get(i - 1);
            Entry b = byOffset.get(i);
            if (b.begin() < a.end()) {
                throw new ModelFileException(file + ": tensors '" + a.name() + "' " + Arrays.toString(new long[]{a.begin(), a.end()})
                        + " and '" + b.name() + "' " + Arrays.toString(new long[]{b.begin(), b.end()}) + " overlap");
            }
        }
        Map<String, StoredTensor> out = new LinkedHashMap<>();
        for (Entry e : entries) {
            MemorySegment slice = seg.asSlice(dataStart + e.begin(), e.end() - e.begin());
            out.put(e.name(), new StoredTensor(e.name(), file.toString(), e.dtype(), e.shape(), slice));
        }
        return out;
    }

    private static long[] longList(Object v, String where, String what) throws ModelFileException {
        if (!(v instanceof List<?> list)) {
            throw new ModelFileException(where + ": " + what + " is not a list of integers");
        }
        long[] out = new long[list.size()];
        for (int i = 0; i < out.length; i++) {
            if (!(list.get(i) instanceof Long l)) {
                throw new ModelFileException(where + ": " + what + " is not a list of integers: " + Json.write(list));
            }
            out[i] = l;
        }
        return out;
    }

    @Override
    public String description() {
        return description;
    }

    @Override
    public Set<String> names() {
        return tensors.keySet();
    }

    @Override
    public StoredTensor find(String name) {
        return tensors.get(name);
    }

    /** A pipeline calls this between stages so only one model is resident at a time. */
    @Override
    public void releaseResidentPages() {
        for (MemorySegment m : mappings) {
            ResidentPages.release(m);
        }
    }

    /** The {@code __metadata__} string pairs of the file(s). */
    public Map<String, String> metadata() {
        return metadata;
    }

    @Override
    public void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }
}
