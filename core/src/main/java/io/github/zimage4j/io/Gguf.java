package io.github.zimage4j.io;

import io.github.zimage4j.tensor.StoredTensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
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

/**
 * A memory-mapped GGUF file (versions 2 and 3, little endian): its metadata and its tensors as slices of
 * the mapping, in their stored (possibly quantized) type.
 *
 * <p>Shapes are given in PyTorch order: GGUF lists dimensions innermost first ({@code ne[0]} is the
 * contiguous one), so a Linear weight stored with {@code ne = [in, out]} reads as {@code [out, in]}. Every
 * structural error (truncation, a tensor outside the data section, misaligned or overlapping tensors, an
 * unknown type) names the file and, where there is one, the tensor.
 */
public final class Gguf implements TensorSource {

    /** The magic "GGUF" read as a little-endian u32. */
    public static final int MAGIC = 0x46554747;
    public static final int DEFAULT_ALIGNMENT = 32;
    private static final int MAX_DIMS = 4;

    /** Metadata value types, by their GGUF id. */
    public enum ValueType {
        UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64
    }

    /**
     * One metadata value. Integers are {@link Long} (a UINT64 above 2⁶³ reads as negative: use
     * {@link Long#toUnsignedString}), FLOAT32 is {@link Float}, FLOAT64 {@link Double}, BOOL {@link Boolean},
     * STRING {@link String}, ARRAY a {@code List} of such values, all of {@code elementType}.
     */
    public record Value(ValueType type, ValueType elementType, Object value) {
        /** The type as gguf-py prints it: {@code UINT32}, {@code ARRAY[INT32]}. */
        public String typeName() {
            return type == ValueType.ARRAY ? "ARRAY[" + elementType + "]" : type.name();
        }
    }

    private final Path file;
    private final Arena arena;
    private final MemorySegment mapping;
    private final int version;
    private final long alignment;
    private final long dataStart;
    private final Map<String, Value> metadata;
    private final Map<String, StoredTensor> tensors;

    private Gguf(Path file, Arena arena, MemorySegment mapping, int version, long alignment, long dataStart,
                 Map<String, Value> metadata, Map<String, StoredTensor> tensors) {
        this.file = file;
        this.arena = arena;
        this.mapping = mapping;
        this.version = version;
        this.alignment = alignment;
        this.dataStart = dataStart;
        this.metadata = Collections.unmodifiableMap(metadata);
        this.tensors = Collections.unmodifiableMap(tensors);
    }

    /** Whether a file starts with the GGUF magic. */
    public static boolean hasMagic(MemorySegment head) {
        return head.byteSize() >= 4 && head.get(Cursor.U32, 0) == MAGIC;
    }

    public static Gguf open(Path file) throws IOException {
        Arena arena = Arena.ofShared();
        try {
            MemorySegment seg;
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            }
            return parse(file, arena, seg);
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static Gguf parse(Path file, Arena arena, MemorySegment seg) throws ModelFileException {
        Cursor c = new Cursor(file, seg);
        if (seg.byteSize() < 24) {
            throw new ModelFileException(file + ": " + seg.byteSize() + " bytes, too short for a GGUF header");
        }
        if (c.u32() != MAGIC) {
            throw new ModelFileException(file + ": not a GGUF file (no \"GGUF\" magic)");
        }
        int version = c.u32();
        if (version != 2 && version != 3) {
            String hint = Integer.reverseBytes(version) == 2 || Integer.reverseBytes(version) == 3
                    ? " (a big-endian GGUF file; only little-endian files are supported)" : "";
            throw new ModelFileException(file + ": GGUF version " + Integer.toUnsignedString(version)
                    + " is not supported (2 and 3 are)" + hint);
        }
        long nTensors = c.u64();
        long nKv = c.u64();
        // Every tensor entry and key/value pair takes at least 8 bytes, so larger counts are corrupt.
        if (nTensors < 0 || nTensors > seg.byteSize() / 8 || nKv < 0 || nKv > seg.byteSize() / 8) {
            throw new ModelFileException(file + ": header claims " + Long.toUnsignedString(nTensors) + " tensors and "
                    + Long.toUnsignedString(nKv) + " metadata pairs, more than the " + seg.byteSize()
                    + "-byte file can hold: corrupt or not a GGUF file");
        }
        Map<String, Value> meta = new LinkedHashMap<>();
        for (long i = 0; i < nKv; i++) {
            String key = c.string("metadata key");
            c.context = "metadata '" + key + "'";
            Value v = c.value(c.valueType());
            if (meta.put(key, v) != null) {
                throw new ModelFileException(file + ": metadata key '" + key + "' appears twice");
            }
            c.context = null;
        }
        long alignment = DEFAULT_ALIGNMENT;
        Value al = meta.get("general.alignment");
        if (al != null) {
            if (al.type() != ValueType.UINT32 || (Long) al.value() <= 0 || Long.bitCount((Long) al.value()) != 1) {
                throw new ModelFileException(file + ": general.alignment must be a UINT32 power of two, found "
                        + al.typeName() + " " + al.value());
            }
            alignment = (Long) al.value();
        }
        record Entry(String name, DType type, long[] shape, long offset, long bytes) {
        }
        List<Entry> entries = new ArrayList<>();
        Set<String> seen = new java.util.HashSet<>();
        for (long i = 0; i < nTensors; i++) {
            String name = c.string("tensor name");
            String where = file + ": tensor '" + name + "'";
            c.context = "tensor '" + name + "'";
            if (!seen.add(name)) {
                throw new ModelFileException(where + " is listed twice");
            }
            int nDims = c.u32();
            if (nDims < 1 || nDims > MAX_DIMS) {
                throw new ModelFileException(where + ": " + Integer.toUnsignedString(nDims) + " dimensions (1 to "
                        + MAX_DIMS + " allowed)");
            }
            long[] ne = new long[nDims];
            for (int d = 0; d < nDims; d++) {
                ne[d] = c.u64();
                if (ne[d] < 0) {
                    throw new ModelFileException(where + ": dimension " + Long.toUnsignedString(ne[d]) + " is too large");
                }
            }
            int typeId = c.u32();
            DType type = DType.fromGgml(Integer.toUnsignedLong(typeId));
            if (type == null) {
                throw new ModelFileException(where + ": ggml type " + DType.ggmlName(Integer.toUnsignedLong(typeId))
                        + " (id " + Integer.toUnsignedString(typeId) + ") is not supported (supported: "
                        + Arrays.stream(DType.values()).filter(t -> t.ggmlType() >= 0).map(Enum::name).toList() + ")");
            }
            long offset = c.u64();
            c.context = null;
            long[] shape = new long[nDims];
            for (int d = 0; d < nDims; d++) {
                shape[d] = ne[nDims - 1 - d];
            }
            if (ne[0] % type.blockElements() != 0) {
                throw new ModelFileException(where + ": rows of " + ne[0] + " elements are not whole " + type
                        + " blocks of " + type.blockElements());
            }
            long bytes;
            try {
                bytes = type.byteSize(StoredTensor.numel(shape));
            } catch (ArithmeticException overflow) {
                throw new ModelFileException(where + ": shape " + Arrays.toString(shape) + " overflows");
            }
            entries.add(new Entry(name, type, shape, offset, bytes));
        }
        long dataStart = c.pos + (alignment - c.pos % alignment) % alignment;
        if (dataStart > seg.byteSize() && !entries.isEmpty()) {
            throw new ModelFileException(file + ": the data section (at " + dataStart + ") starts past the end of the "
                    + seg.byteSize() + "-byte file: truncated");
        }
        long dataSize = Math.max(0, seg.byteSize() - dataStart);
        for (Entry e : entries) {
            String where = file + ": tensor '" + e.name() + "'";
            if (e.offset() < 0 || e.offset() % alignment != 0) {
                throw new ModelFileException(where + ": offset " + Long.toUnsignedString(e.offset())
                        + " is not a multiple of the alignment " + alignment);
            }
            if (e.bytes() > dataSize || e.offset() > dataSize - e.bytes()) {
                throw new ModelFileException(where + ": bytes [" + e.offset() + ", " + (e.offset() + e.bytes())
                        + ") of the data section lie outside its " + dataSize + " bytes (file truncated?)");
            }
        }
        List<Entry> byOffset = new ArrayList<>(entries);
        byOffset.sort(Comparator.comparingLong(Entry::offset));
        for (int i = 1; i < byOffset.size(); i++) {
            Entry a = byOffset.get(i - 1);
            Entry b = byOffset.get(i);
            if (b.offset() < a.offset() + a.bytes() && b.bytes() > 0 && a.bytes() > 0) {
                throw new ModelFileException(file + ": tensors '" + a.name() + "' [" + a.offset() + ", "
                        + (a.offset() + a.bytes()) + ") and '" + b.name() + "' [" + b.offset() + ", "
                        + (b.offset() + b.bytes()) + ") overlap");
            }
        }
        Map<String, StoredTensor> out = new LinkedHashMap<>();
        for (Entry e : entries) {
            MemorySegment slice = seg.asSlice(dataStart + e.offset(), e.bytes());
            out.put(e.name(), new StoredTensor(e.name(), file.toString(), e.type(), e.shape(), slice));
        }
        return new Gguf(file, arena, seg, version, alignment, dataStart, meta, out);
    }

    /** Bounds-checked little-endian reads over the mapping; errors name the file, offset and item. */
    private static final class Cursor {
        static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

        final Path file;
        final MemorySegment seg;
        long pos;
        String context;

        Cursor(Path file, MemorySegment seg) {
            this.file = file;
            this.seg = seg;
        }

        void need(long n, String what) throws ModelFileException {
            if (n < 0 || n > seg.byteSize() - pos) {
                throw new ModelFileException(file + ": " + (context != null ? context + ": " : "") + what + " at byte "
                        + pos + " runs past the end of the file (" + seg.byteSize() + " bytes): truncated or corrupt");
            }
        }

        int u32() throws ModelFileException {
            need(4, "a u32");
            int v = seg.get(U32, pos);
            pos += 4;
            return v;
        }

        long u64() throws ModelFileException {
            need(8, "a u64");
            long v = seg.get(U64, pos);
            pos += 8;
            return v;
        }

        String string(String what) throws ModelFileException {
            long len = u64();
            need(len, what + " of " + Long.toUnsignedString(len) + " bytes");
            byte[] b = seg.asSlice(pos, len).toArray(ValueLayout.JAVA_BYTE);
            pos += len;
            try {
                return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(b)).toString();
            } catch (CharacterCodingException e) {
                throw new ModelFileException(file + ": " + (context != null ? context + ": " : "") + what
                        + " at byte " + (pos - len) + " is not valid UTF-8");
            }
        }

        ValueType valueType() throws ModelFileException {
            int id = u32();
            if (id < 0 || id >= ValueType.values().length) {
                throw new ModelFileException(file + ": " + (context != null ? context + ": " : "") + "unknown value type "
                        + Integer.toUnsignedString(id) + " at byte " + (pos - 4));
            }
            return ValueType.values()[id];
        }

        Value value(ValueType t) throws ModelFileException {
            if (t == ValueType.ARRAY) {
                ValueType et = valueType();
                if (et == ValueType.ARRAY) {
                    throw new ModelFileException(file + ": " + context + ": nested arrays are not supported");
                }
                long n = u64();
                if (n < 0 || n > seg.byteSize() - pos) {
                    throw new ModelFileException(file + ": " + context + ": array of " + Long.toUnsignedString(n)
                            + " elements runs past the end of the file");
                }
                List<Object> list = new ArrayList<>((int) Math.min(n, 1 << 16));
                for (long i = 0; i < n; i++) {
                    list.add(scalar(et));
                }
                return new Value(t, et, Collections.unmodifiableList(list));
            }
            return new Value(t, null, scalar(t));
        }

        Object scalar(ValueType t) throws ModelFileException {
            int size = switch (t) {
                case UINT8, INT8, BOOL -> 1;
                case UINT16, INT16 -> 2;
                case UINT32, INT32, FLOAT32 -> 4;
                case UINT64, INT64, FLOAT64 -> 8;
                case STRING -> 0;
                case ARRAY -> throw new IllegalStateException();
            };
            if (t == ValueType.STRING) {
                return string("a string");
            }
            need(size, "a " + t + " value");
            long p = pos;
            pos += size;
            return switch (t) {
                case UINT8 -> (long) (seg.get(ValueLayout.JAVA_BYTE, p) & 0xFF);
                case INT8 -> (long) seg.get(ValueLayout.JAVA_BYTE, p);
                case BOOL -> {
                    byte b = seg.get(ValueLayout.JAVA_BYTE, p);
                    if (b != 0 && b != 1) {
                        throw new ModelFileException(file + ": " + context + ": bool byte " + b + " at " + p + " is not 0 or 1");
                    }
                    yield b == 1;
                }
                case UINT16 -> (long) (seg.get(U16, p) & 0xFFFF);
                case INT16 -> (long) seg.get(U16, p);
                case UINT32 -> Integer.toUnsignedLong(seg.get(U32, p));
                case INT32 -> (long) seg.get(U32, p);
                case FLOAT32 -> seg.get(F32, p);
                case UINT64, INT64 -> seg.get(U64, p);
                case FLOAT64 -> seg.get(F64, p);
                default -> throw new IllegalStateException();
            };
        }
    }

    public int version() {
        return version;
    }

    public long alignment() {
        return alignment;
    }

    /** Byte offset of the data section in the file. */
    public long dataStart() {
        return dataStart;
    }

    /** Every metadata pair, in file order. */
    public Map<String, Value> metadata() {
        return metadata;
    }

    /** A string metadata value, or null when absent or not a string. */
    public String metadataString(String key) {
        Value v = metadata.get(key);
        return v != null && v.value() instanceof String s ? s : null;
    }

    @Override
    public String description() {
        return file.toString();
    }

    @Override
    public Set<String> names() {
        return tensors.keySet();
    }

    @Override
    public StoredTensor find(String name) {
        return tensors.get(name);
    }

    @Override
    public void releaseResidentPages() {
        ResidentPages.release(mapping);
    }

    @Override
    public void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }
}
