// Everything that imports WardenCore sees WardenWire's JSON values, coded errors and line channel.
@_exported import WardenWire
