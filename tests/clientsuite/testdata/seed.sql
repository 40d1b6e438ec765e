DELETE FROM acct;
DELETE FROM alltypes;
INSERT INTO acct (id, owner, balance, note) VALUES
  (1, 'seed-1', 10.50, 'n1'), (2, 'seed-2', 21.00, NULL), (3, 'seed-3', 31.50, 'n3'), (4, 'seed-4', 42.00, NULL),
  (5, 'seed-5', 52.50, 'n5'), (6, 'seed-6', 63.00, NULL), (7, 'seed-7', 73.50, 'n7'), (8, 'seed-8', 84.00, NULL),
  (9, 'seed-9', 94.50, 'n9'), (10, 'seed-10', 105.00, NULL), (11, 'seed-11', 115.50, 'n11'), (12, 'seed-12', 126.00, NULL),
  (13, 'seed-13', 136.50, 'n13'), (14, 'seed-14', 147.00, NULL), (15, 'seed-15', 157.50, 'n15'), (16, 'seed-16', 168.00, NULL),
  (17, 'seed-17', 178.50, 'n17'), (18, 'seed-18', 189.00, NULL), (19, 'seed-19', 199.50, 'n19'), (20, 'seed-20', -1.25, NULL);
INSERT INTO alltypes (id, ti, tiu, si, siu, mi, miu, i, iu, bi, biu, dc, fl, db, bt, dt, dtm, ts, tm, yr, ch, vc, bn, vb, tx, bl, en, st, js) VALUES
  (1, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807, 18446744073709551615,
   99999999999999.999999, 1.5, 1.7976931348623157e308, b'11111111', '9999-12-31', '9999-12-31 23:59:59.999999',
   '2037-12-31 23:59:59.999', '838:59:59', 2155, 'abc', 'ünïcødé €', x'00010203', x'ff00', 'text ü', x'000102ff',
   'large', 'red,green,blue', '{"a": [1, 2.5, "x", null, true]}'),
  (2, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 9223372036854775808,
   -99999999999999.999999, -3.25, -2.2250738585072014e-308, b'0', '1000-01-01', '1000-01-01 00:00:00',
   '2000-01-01 00:00:00', '-838:59:59', 1901, '', '', x'00000000', '', '', '',
   'small', '', '[]'),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
