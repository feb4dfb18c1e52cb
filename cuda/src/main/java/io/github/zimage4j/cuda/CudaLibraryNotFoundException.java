package io.github.zimage4j.cuda;

/** A CUDA library is not on this machine, or none of its files would load; the message lists every place looked at. */
public final class CudaLibraryNotFoundException extends CudaException {

    private final CudaLibrary library;

    CudaLibraryNotFoundException(CudaLibrary library, String message) {
        super(message);
        this.library = library;
    }

    public CudaLibrary library() {
        return library;
    }
}
