package main
import (
 _ "github.com/robfig/cron/v3"
 _ "github.com/xuri/excelize/v2"
 _ "github.com/aws/aws-sdk-go-v2/config"
 _ "github.com/aws/aws-sdk-go-v2/service/s3"
 _ "github.com/jmoiron/sqlx"
 _ "github.com/jackc/pgx/v5/stdlib"
 _ "modernc.org/sqlite"
 _ "github.com/shopspring/decimal"
 _ "github.com/johannesboyne/gofakes3"
 _ "gopkg.in/yaml.v3"
 _ "golang.org/x/sync/errgroup"
 _ "github.com/klauspost/compress/zstd"
 _ "github.com/pressly/goose/v3"
 _ "github.com/schollz/progressbar/v3"
)
func main(){}
