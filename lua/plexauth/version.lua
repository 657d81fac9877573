--- plexauth's version (X.Y.Z), on its own so that reading it loads nothing else.
-- @module plexauth.version
return "0.2.0"
