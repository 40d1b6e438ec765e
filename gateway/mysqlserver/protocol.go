package mysqlserver

// Protocol constants, as the MySQL and MariaDB client/server protocol
// documentation names them.

// Capability flags (CLIENT_*), exchanged in the handshake.
const (
	CapLongPassword               uint32 = 1 << 0
	CapFoundRows                  uint32 = 1 << 1
	CapLongFlag                   uint32 = 1 << 2
	CapConnectWithDB              uint32 = 1 << 3
	CapNoSchema                   uint32 = 1 << 4
	CapCompress                   uint32 = 1 << 5
	CapODBC                       uint32 = 1 << 6
	CapLocalFiles                 uint32 = 1 << 7
	CapIgnoreSpace                uint32 = 1 << 8
	CapProtocol41                 uint32 = 1 << 9
	CapInteractive                uint32 = 1 << 10
	CapSSL                        uint32 = 1 << 11
	CapIgnoreSigpipe              uint32 = 1 << 12
	CapTransactions               uint32 = 1 << 13
	CapReserved                   uint32 = 1 << 14
	CapSecureConnection           uint32 = 1 << 15
	CapMultiStatements            uint32 = 1 << 16
	CapMultiResults               uint32 = 1 << 17
	CapPSMultiResults             uint32 = 1 << 18
	CapPluginAuth                 uint32 = 1 << 19
	CapConnectAttrs               uint32 = 1 << 20
	CapPluginAuthLenencClientData uint32 = 1 << 21
	CapCanHandleExpiredPasswords  uint32 = 1 << 22
	CapSessionTrack               uint32 = 1 << 23
	CapDeprecateEOF               uint32 = 1 << 24
)

// serverCapabilities are what the server offers; CapSSL is added when a
// TLS configuration is given. Compression and query attributes are not
// offered. Like MariaDB, the server leaves out CLIENT_LONG_PASSWORD, which
// MariaDB reads as CLIENT_MYSQL: without it, MariaDB's clients exchange
// extended capabilities in the handshake's reserved bytes.
const serverCapabilities = CapFoundRows | CapLongFlag | CapConnectWithDB |
	CapODBC | CapLocalFiles | CapIgnoreSpace | CapProtocol41 | CapInteractive | CapTransactions |
	CapSecureConnection | CapMultiStatements | CapMultiResults | CapPSMultiResults | CapPluginAuth |
	CapConnectAttrs | CapPluginAuthLenencClientData | CapSessionTrack | CapDeprecateEOF

// MariaDB's extended capabilities (MARIADB_CLIENT_*, capability bits
// 32-63, sent in the handshake's reserved bytes). Of them the server
// offers extended metadata only: not progress reports, bulk execution or
// metadata caching.
const (
	ExtCapProgress           uint32 = 1 << 0
	ExtCapComMulti           uint32 = 1 << 1
	ExtCapStmtBulkOperations uint32 = 1 << 2
	ExtCapExtendedMetadata   uint32 = 1 << 3
	ExtCapCacheMetadata      uint32 = 1 << 4

	serverExtCapabilities = ExtCapExtendedMetadata
)

// Server status flags (SERVER_STATUS_*), sent in OK and EOF packets.
const (
	StatusInTrans            uint16 = 0x0001
	StatusAutocommit         uint16 = 0x0002
	StatusMoreResultsExist   uint16 = 0x0008
	StatusNoGoodIndexUsed    uint16 = 0x0010
	StatusNoIndexUsed        uint16 = 0x0020
	StatusCursorExists       uint16 = 0x0040
	StatusLastRowSent        uint16 = 0x0080
	StatusDBDropped          uint16 = 0x0100
	StatusNoBackslashEscapes uint16 = 0x0200
	StatusMetadataChanged    uint16 = 0x0400
	StatusQueryWasSlow       uint16 = 0x0800
	StatusPSOutParams        uint16 = 0x1000
	StatusInTransReadOnly    uint16 = 0x2000
	StatusSessionStateChange uint16 = 0x4000
)

// serverOwnedStatus are the flags the server sets itself; the session's
// StatusFlags never contribute them.
const serverOwnedStatus = StatusMoreResultsExist | StatusCursorExists | StatusLastRowSent | StatusSessionStateChange

// Commands (COM_*): the first byte of a command packet.
const (
	comSleep            = 0x00
	comQuit             = 0x01
	comInitDB           = 0x02
	comQuery            = 0x03
	comFieldList        = 0x04
	comCreateDB         = 0x05
	comDropDB           = 0x06
	comRefresh          = 0x07
	comShutdown         = 0x08
	comStatistics       = 0x09
	comProcessInfo      = 0x0a
	comConnect          = 0x0b
	comProcessKill      = 0x0c
	comDebug            = 0x0d
	comPing             = 0x0e
	comTime             = 0x0f
	comDelayedInsert    = 0x10
	comChangeUser       = 0x11
	comBinlogDump       = 0x12
	comTableDump        = 0x13
	comConnectOut       = 0x14
	comRegisterSlave    = 0x15
	comStmtPrepare      = 0x16
	comStmtExecute      = 0x17
	comStmtSendLongData = 0x18
	comStmtClose        = 0x19
	comStmtReset        = 0x1a
	comSetOption        = 0x1b
	comStmtFetch        = 0x1c
	comDaemon           = 0x1d
	comBinlogDumpGTID   = 0x1e
	comResetConnection  = 0x1f
	comStmtBulkExecute  = 0xfa // MariaDB, only with MARIADB_CLIENT_STMT_BULK_OPERATIONS
)

// Packet headers of server responses.
const (
	okHeader        = 0x00
	moreDataHeader  = 0x01 // AuthMoreData
	localFileHeader = 0xfb
	eofHeader       = 0xfe // EOF, AuthSwitchRequest, and OK in place of EOF with CLIENT_DEPRECATE_EOF
	errHeader       = 0xff
)

// Column types of the binary protocol (MYSQL_TYPE_*).
const (
	typeDecimal    = 0x00
	typeTiny       = 0x01
	typeShort      = 0x02
	typeLong       = 0x03
	typeFloat      = 0x04
	typeDouble     = 0x05
	typeNull       = 0x06
	typeTimestamp  = 0x07
	typeLongLong   = 0x08
	typeInt24      = 0x09
	typeDate       = 0x0a
	typeTime       = 0x0b
	typeDatetime   = 0x0c
	typeYear       = 0x0d
	typeNewDate    = 0x0e
	typeVarchar    = 0x0f
	typeBit        = 0x10
	typeJSON       = 0xf5
	typeNewDecimal = 0xf6
	typeEnum       = 0xf7
	typeSet        = 0xf8
	typeTinyBlob   = 0xf9
	typeMediumBlob = 0xfa
	typeLongBlob   = 0xfb
	typeBlob       = 0xfc
	typeVarString  = 0xfd
	typeString     = 0xfe
	typeGeometry   = 0xff
)

// Column flags used by the server itself.
const (
	flagBinary   = 0x0080
	flagUnsigned = 0x0020
)

// paramUnsigned is the unsigned bit of a parameter's flag byte in
// COM_STMT_EXECUTE (the high byte of its 2-byte type).
const paramUnsigned = 0x80

// Cursor types of COM_STMT_EXECUTE's flags.
const cursorTypeReadOnly = 0x01

// COM_SET_OPTION values.
const (
	optionMultiStatementsOn  = 0
	optionMultiStatementsOff = 1
)

// Authentication plugins.
const (
	NativePassword      = "mysql_native_password"
	CachingSHA2Password = "caching_sha2_password"
)

// caching_sha2_password's AuthMoreData payloads.
const (
	sha2FastAuthOK      = 0x03
	sha2PerformFullAuth = 0x04
)

// maxPayload is the largest payload of one packet; a payload of this size
// or more continues in the next packet.
const maxPayload = 1<<24 - 1

// binaryCharset is the collation id of binary strings (63).
const binaryCharset = 63
