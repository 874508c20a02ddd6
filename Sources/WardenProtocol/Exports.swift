// The vocabulary (event kinds and payloads, tool names, error codes, the control API) is part of
// every wire format here.
@_exported import WardenVocabulary
