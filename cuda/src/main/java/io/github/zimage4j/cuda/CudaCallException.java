package io.github.zimage4j.cuda;

/**
 * A CUDA, NVRTC or cuBLASLt call returned an error. Carries the library's status code and its name
 * ({@code CUDA_ERROR_INVALID_VALUE}, {@code NVRTC_ERROR_COMPILATION}, {@code CUBLAS_STATUS_NOT_SUPPORTED}),
 * the function called and what the caller was doing.
 */
public class CudaCallException extends CudaException {

    private final String function;
    private final int code;
    private final String codeName;

    public CudaCallException(String function, int code, String codeName, String description, String attempt) {
        super(message(function, code, codeName, description, attempt));
        this.function = function;
        this.code = code;
        this.codeName = codeName;
    }

    protected CudaCallException(String function, int code, String codeName, String message) {
        super(message);
        this.function = function;
        this.code = code;
        this.codeName = codeName;
    }

    static String message(String function, int code, String codeName, String description, String attempt) {
        StringBuilder b = new StringBuilder();
        b.append(attempt).append(": ").append(function).append(" failed with ").append(codeName).append(" (").append(code)
                .append(')');
        if (description != null && !description.isBlank() && !description.equals(codeName)) {
            b.append(": ").append(description);
        }
        return b.toString();
    }

    /** The C function that failed, e.g. {@code cuMemAlloc_v2}. */
    public String function() {
        return function;
    }

    /** The status code it returned. */
    public int code() {
        return code;
    }

    /** The status code's name, e.g. {@code CUDA_ERROR_OUT_OF_MEMORY}. */
    public String codeName() {
        return codeName;
    }
}
