"""MLServer serving this repo's model over the Open Inference Protocol (V2): the server
class, the protocol and their bounds, shared by every runtime that runs MLServer."""
