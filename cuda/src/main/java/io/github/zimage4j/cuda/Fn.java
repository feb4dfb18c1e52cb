package io.github.zimage4j.cuda;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * One bound C function: the exported symbol (the versioned one where the header maps the API name to it,
 * e.g. {@code cuMemAlloc_v2}) and its signature. Every binding of this module is a constant of this type,
 * so a test can check each against the CUDA headers' declarations.
 *
 * @param symbol     the exported symbol looked up in the library
 * @param descriptor the C signature; {@code int}/enums are JAVA_INT, {@code size_t}/{@code CUdeviceptr}
 *                   JAVA_LONG, pointers and handles ADDRESS
 */
record Fn(String symbol, FunctionDescriptor descriptor) {

    static Fn of(String symbol, MemoryLayout ret, MemoryLayout... args) {
        return new Fn(symbol, FunctionDescriptor.of(ret, args));
    }

    static Fn ofVoid(String symbol, MemoryLayout... args) {
        return new Fn(symbol, FunctionDescriptor.ofVoid(args));
    }

    /** The name the header declares: the symbol without a {@code _vN} suffix. */
    String apiName() {
        return symbol.replaceFirst("_v\\d+$", "");
    }

    MethodHandle bind(LibraryLocator.Loaded lib) {
        MemorySegment address = lib.lookup().find(symbol).orElseThrow(() -> new CudaException(lib.library().title()
                + " loaded from " + lib.from().target() + " has no function " + symbol
                + ": the library is older than this binding expects (CUDA 13); install CUDA 13 or point CUDA_HOME at it"));
        return Linker.nativeLinker().downcallHandle(address, descriptor);
    }
}
