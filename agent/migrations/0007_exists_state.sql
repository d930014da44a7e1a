-- An entry refused as a duplicate id was stored `unknown` with this marker as its error; it is
-- the `exists` state now (the error column holds reasons, not states).
UPDATE orders SET state = 'exists', error = NULL
WHERE state = 'unknown' AND error = 'duplicate_client_order_id';
