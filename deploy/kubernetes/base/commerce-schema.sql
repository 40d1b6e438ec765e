-- Schema of the example keyspace "commerce" (see vschema.json), applied to
-- every shard by `shardctl local up` or `shardctl schema apply commerce --file`.
--
-- customer and corder are sharded by customer_id with the hash vindex, so a
-- customer's orders live on the same shard as the customer. product is a
-- reference table: every shard holds a full copy, so joins with it stay on
-- one shard.

CREATE TABLE IF NOT EXISTS customer (
  customer_id BIGINT NOT NULL,
  email       VARCHAR(128) NOT NULL,
  created     DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (customer_id),
  KEY email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE IF NOT EXISTS corder (
  order_id    BIGINT NOT NULL,
  customer_id BIGINT NOT NULL,
  sku         VARCHAR(64) NOT NULL,
  price       DECIMAL(10,2) NOT NULL,
  PRIMARY KEY (customer_id, order_id),
  KEY sku (sku)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE IF NOT EXISTS product (
  sku         VARCHAR(64) NOT NULL,
  description VARCHAR(256) NOT NULL DEFAULT '',
  price       DECIMAL(10,2) NOT NULL,
  PRIMARY KEY (sku)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
