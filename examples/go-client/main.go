// Command go-client uses Shardgate from Go through the gate's gRPC API and
// the database/sql driver "shardgate", against the example keyspace
// commerce that `make demo` (shardctl local up) starts:
//
//	make demo
//	go run ./examples/go-client
//	go run ./examples/go-client -dsn 'shardgate://127.0.0.1:15991/commerce?timeout=5s'
//
// It creates customers and products, writes an order in a transaction with
// a prepared statement, and reads back: one customer's orders (one shard),
// totals over every shard, and all customers streamed row by row.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/shardgate/shardgate/gateway/client" // registers the "shardgate" driver
)

func main() {
	dsn := flag.String("dsn", "shardgate://127.0.0.1:15991/commerce?timeout=5s", "the gate's gRPC address and keyspace (see client.ParseDSN)")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := sql.Open(client.DriverName, *dsn)
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-client:", err)
		os.Exit(1)
	}
	defer db.Close()
	if err := run(ctx, db, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "go-client:", err)
		os.Exit(1)
	}
}

// The example's customers; running it again starts from scratch.
const firstCustomer, lastCustomer = 9001, 9004

func run(ctx context.Context, db *sql.DB, out io.Writer) error {
	// Create: products (a reference table: every shard gets a copy) and
	// customers (sharded by customer_id: each row goes to one shard).
	if _, err := db.ExecContext(ctx, "REPLACE INTO product (sku, description, price) VALUES (?, ?, ?), (?, ?, ?)",
		"tea", "green tea, 100 g", "4.50", "cup", "a cup", "7.25"); err != nil {
		return fmt.Errorf("products: %w", err)
	}
	for _, table := range []string{"corder", "customer"} {
		if _, err := db.ExecContext(ctx, "DELETE FROM "+table+" WHERE customer_id BETWEEN ? AND ?", firstCustomer, lastCustomer); err != nil {
			return fmt.Errorf("clean up: %w", err)
		}
	}
	for id := firstCustomer; id <= lastCustomer; id++ {
		if _, err := db.ExecContext(ctx, "INSERT INTO customer (customer_id, email) VALUES (?, ?)", id, fmt.Sprintf("c%d@example.com", id)); err != nil {
			return fmt.Errorf("customer %d: %w", id, err)
		}
	}

	// Write: a customer's order in a transaction, through a prepared
	// statement (prepared on the client; the gate caches its plan).
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	add, err := tx.PrepareContext(ctx, "INSERT INTO corder (order_id, customer_id, sku, price) SELECT ?, ?, sku, price FROM product WHERE sku = ?")
	if err != nil {
		tx.Rollback()
		return err
	}
	for i, sku := range []string{"tea", "cup", "tea"} {
		if _, err := add.ExecContext(ctx, i+1, firstCustomer, sku); err != nil {
			tx.Rollback()
			return fmt.Errorf("order %d: %w", i+1, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}

	// Read: one customer's orders (routed to the customer's shard).
	rows, err := db.QueryContext(ctx, "SELECT o.order_id, o.sku, o.price FROM customer c JOIN corder o ON o.customer_id = c.customer_id WHERE c.customer_id = ? ORDER BY o.order_id", firstCustomer)
	if err != nil {
		return err
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		rows.Close()
		return err
	}
	for _, t := range types {
		fmt.Fprintf(out, "%s %s  ", t.Name(), t.DatabaseTypeName())
	}
	fmt.Fprintln(out)
	for rows.Next() {
		var id int64
		var sku, price string
		if err := rows.Scan(&id, &sku, &price); err != nil {
			rows.Close()
			return err
		}
		fmt.Fprintf(out, "order %d: %s at %s\n", id, sku, price)
	}
	if err := rows.Close(); err != nil {
		return err
	}

	// Read: totals over every shard, combined by the gate.
	var orders int
	var total string
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*), SUM(price) FROM corder WHERE customer_id BETWEEN ? AND ?", firstCustomer, lastCustomer).Scan(&orders, &total); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d orders, %s in total\n", orders, total)

	// Read: every customer, streamed: the rows arrive as they are read,
	// never held whole by the client.
	rows, err = db.QueryContext(ctx, "SELECT customer_id, email FROM customer WHERE customer_id BETWEEN ? AND ? ORDER BY customer_id", firstCustomer, lastCustomer)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var email string
		if err := rows.Scan(&id, &email); err != nil {
			return err
		}
		fmt.Fprintf(out, "customer %d: %s\n", id, email)
	}
	return rows.Err()
}
