"""KServe running MLServer (runtimes/mlserver) as an InferenceService of a ServingRuntime."""
