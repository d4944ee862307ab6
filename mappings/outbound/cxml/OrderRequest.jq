# purchase_order/v1 -> cXML OrderRequest (edigate writes the cXML envelope and Header)
.record as $po
| def money($v): ["Money", {currency: ($po.currency // error({message: "cXML amounts need a currency and the order has none"}))}, $v];
  ["OrderRequest", {},
    (["OrderRequestHeader", {orderID: $po.po_number, orderDate: $po.order_date,
       type: ({"original": "new", "change": "update", "replace": "update", "cancel": "delete"}[$po.purpose]),
       orderType: $po.po_type, requisitionID: $po.requisition_id}]
     + [when($po.total_amount; ["Total", {}, money($po.total_amount)])]
     + [$po.parties[] | select(.role == "ship_to") | cxml_party_out("ShipTo")]
     + [$po.parties[] | select(.role == "bill_to") | cxml_party_out("BillTo")]
     + [$po.payment_terms // "" | capture("^net (?<d>[0-9]+) days$") | ["PaymentTerm", {payInNumberOfDays: .d}]]
     + [($po.notes // [])[] | ["Comments", {"xml:lang": "en"}, .]]),
    ($po.lines[] |
      ["ItemOut", {quantity: .quantity, lineNumber: .line_number, requestedDeliveryDate: .requested_delivery_date},
        (["ItemID", {}, ["SupplierPartID", {}, (.item.supplier_part // "")]]
         + [(.item.buyer_part | xwalk_back("item")) as $bp | when($bp; ["BuyerPartID", {}, $bp])]),
        ["ItemDetail", {},
          ["UnitPrice", {}, money(.unit_price // error({message: "line \(.line_number): cXML needs a unit price on every item"}))],
          ["Description", {"xml:lang": "en"}, (.item.description // "")],
          ["UnitOfMeasure", {}, (.uom | xwalk_back("uom"))]]])
  ]
