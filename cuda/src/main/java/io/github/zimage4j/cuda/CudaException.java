package io.github.zimage4j.cuda;

/** CUDA cannot do what was asked: a library is missing, a call failed, a kernel did not compile. */
public class CudaException extends RuntimeException {

    public CudaException(String message) {
        super(message);
    }

    public CudaException(String message, Throwable cause) {
        super(message, cause);
    }
}
