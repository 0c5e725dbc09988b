/**
 * A real trade_status_sync notify (October 2025, UTF-8), byte for byte as Alipay sent it, and the
 * Alipay public key that verifies it, as the console shows it (bare base64). Published in the tests
 * of the public repository lihongsheng/payment-sdk (adapter/alipay/event/callback_test.go). Shared by
 * the adapter's unit tests and the handler tests.
 */
export const REAL_NOTIFY = [
  'gmt_create=2025-10-17+15%3A31%3A07',
  'charset=UTF-8',
  'seller_email=yuioplkjh202502%40163.com',
  'subject=%E5%AE%A2%E6%9C%8D%3A+400%E2%80%93088%E2%80%935739',
  'sign=dbNudH3ydq90yTvrI8HmXwj%2FkAS0Bda6xVvIiKTQLjjKenoYl8AZw%2F4%2FBu37D%2FCy66aX5zaWQwtrKNKeaHpMMAC' +
    'wBQLQngZLVy8puy74FvbfUeMAt5cYpQAI9n%2Bl2zsFanefNDY%2BCiEzQc8dwog8QttTmWICtgnxewDCgWY5%2B11cmobRUL5' +
    '%2FqiWtclggm2egQ%2F1yxcAQFsLnOvpSE54uW8Fu7bLaKARwCagl3rDHn%2BKV592okyJK%2BcA%2FUDS%2B4g9qKrq%2FStoJniV' +
    'wdwWaPbHJ66He60yQTjlQaTm8ml820iWXa7GggFHr7YXFfYSr2qaobChcCCl%2FwYlo9L25Oo2Q3g%3D%3D',
  'buyer_open_id=099luGU2ef8yeC95sroZ9WGyuuGqL7qD-VLY8B1mtPqj4w9',
  'invoice_amount=0.00',
  'notify_id=2025101701222153119086991451124623',
  'fund_bill_list=%5B%7B%22amount%22%3A%220.02%22%2C%22fundChannel%22%3A%22COUPON%22%7D%5D',
  'notify_type=trade_status_sync',
  'trade_status=TRADE_SUCCESS',
  'receipt_amount=0.02',
  'buyer_pay_amount=0.02',
  'app_id=2021005199606982',
  'sign_type=RSA2',
  'seller_id=2088070256235011',
  'gmt_payment=2025-10-17+15%3A31%3A18',
  'notify_time=2025-10-17+15%3A56%3A32',
  'merchant_app_id=2021005199606982',
  'passback_params=tpdp_id%3D17',
  'version=1.0',
  'out_trade_no=176068626732100521009',
  'total_amount=0.02',
  'trade_no=2025101722001486991458220176',
  'auth_app_id=2021005199606982',
  'buyer_logon_id=999***%40sina.com',
  'point_amount=0.00',
].join('&');
export const REAL_KEY_BASE64 =
  'MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAsyA5/k4SyfoHhZCPIr/VjBG1vRhOwPLoOddf5WCH6168h/el+BGMiNOdczbP11HmrfpJ' +
  'WsXKDR7W/T/RMwX032RY2ah7HTJG1Auh5RXu4SoKmZYq84nvT0i0N8hp222E1fECts1NaWSfQP8dZcbFTd5HEWwbBmdFR/ExWl2u3wZB0OFHgIz4rf' +
  'VV3qQnqFLzPqYIV23QfkHS0cVrlZU+GjSO7BVLRozOPD+0O1N9cuq8gjqSYDbR83VTAG27hfJel3prg5FTDAeLSi1eyUIrNRB3LZjaj5X90gyRHY4n' +
  'NOx7Jh01YTuZR/FSHVHVdGdkw3h131FqmJpB2xAdc/qnVwIDAQAB';

/** The app the real notify is for (its app_id). */
export const REAL_APP_ID = '2021005199606982';
