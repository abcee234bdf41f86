-- The price feed (issue 6, diagnosis): quotes per whole unit of an asset, in quote atomic units
-- (six decimals), so the diagnosis can tell a fall in value caused by the market from one caused
-- by money leaving. One row per asset and instant; a repeated push is ignored.
CREATE TABLE prices (
    asset TEXT           NOT NULL,
    at    BIGINT         NOT NULL,
    price NUMERIC(39, 0) NOT NULL,
    PRIMARY KEY (asset, at)
);
